"""`portal demo` keeps the README's word: its seeded credentials are connection-tested at start, so
acme's pass and globex's old key shows its failure."""

from __future__ import annotations

from sqlalchemy import select

from portal.db.migrate import upgrade
from portal.db.models import Credential, Provider, Tenant
from portal.db.session import database
from portal.demo.seed import DEMO_PROVIDER_KEY, run_demo_connection_tests, seed_demo
from portal.demo.stub_provider import StubProvider
from tests.support.env import make_settings


async def test_the_demo_credentials_are_tested_at_start(tmp_path):
    stub = StubProvider({DEMO_PROVIDER_KEY}).start()
    try:
        settings = make_settings(
            tmp_path,
            f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
            OPENAI_BASE_URL=f"{stub.url}/v1",
            ANTHROPIC_BASE_URL=f"{stub.url}/v1",
        )
        await upgrade(settings)
        await seed_demo(settings, "a demo admin password", stub.url)
        lines = await run_demo_connection_tests(settings)
    finally:
        stub.stop()
    assert lines == [
        "acme / azure: passes",
        "acme / openai: passes",
        "globex / anthropic: fails (the provider refused the key (HTTP 401): check the API key)",
        "globex / globex-gateway: passes",
    ]
    async with database(settings) as (_engine, sessions), sessions() as db:
        results = (
            await db.execute(
                select(Tenant.slug, Provider.name, Credential.last_test_ok)
                .join(Credential, Credential.tenant_id == Tenant.id)
                .join(Provider, Provider.id == Credential.provider_id)
            )
        ).all()
    assert sorted(results) == [
        ("acme", "azure", True),
        ("acme", "openai", True),
        ("globex", "anthropic", False),
        ("globex", "globex-gateway", True),
    ]
    assert all(DEMO_PROVIDER_KEY not in line for line in lines)
