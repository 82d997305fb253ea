"""`portal serve`, `portal demo`, `portal db upgrade` and `portal generate-encryption-key`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from portal.cli.common import settings_or_exit
from portal.config import Settings


@click.command("generate-encryption-key")
def generate_encryption_key() -> None:
    """Print a new Fernet key for ENCRYPTION_KEY."""
    from portal.crypto.keyring import new_master_key

    click.echo(new_master_key())


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target Alembic revision.")
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations."""
    from portal.db.migrate import upgrade_blocking

    upgrade_blocking(settings_or_exit(), revision)
    click.echo(f"Database upgraded to {revision}.")


def _serve(settings: Settings, host: str, port: int, workers: int, migrate: bool) -> None:
    import uvicorn

    from portal.web import log_redaction

    log_redaction.install()  # in this process too (each worker's create_app installs its own)

    if migrate:
        from portal.db.migrate import upgrade_blocking

        upgrade_blocking(settings)
    if workers > 1 and not settings.redis_url:
        os.environ["PORTAL_SESSIONS_SHARED"] = "1"
    uvicorn.run(
        "portal.asgi:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
    )


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--no-migrate", is_flag=True, help="Do not apply migrations before starting.")
def serve(host: str, port: int, workers: int, no_migrate: bool) -> None:
    """Serve the portal (applies migrations first unless --no-migrate)."""
    _serve(settings_or_exit(), host, port, workers, not no_migrate)


DEMO_OUTBOUND_ALLOW = "127.0.0.1,::1"  # where the demo's stub provider and identity provider listen


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--stub-port", default=8001, show_default=True, type=int, help="Port of the stub LLM provider.")
@click.option(
    "--idp-port", default=8002, show_default=True, type=int, help="Port of the demo identity provider."
)
def demo(host: str, port: int, stub_port: int, idp_port: int) -> None:
    """Run the portal with demo data: SQLite under var/, generated secrets, a stub provider,
    and a demo identity provider to sign in to the demo tenants through single sign-on."""
    from portal.config import REPO_ROOT
    from portal.db.migrate import upgrade_blocking
    from portal.demo.seed import (
        ADMIN_EMAIL,
        DEMO_PROVIDER_KEY,
        load_or_create_demo_env,
        run_demo_connection_tests,
        seed_demo,
    )
    from portal.demo.stub_provider import StubProvider

    var_dir = Path(os.environ.get("PORTAL_VAR_DIR") or REPO_ROOT / "var")
    demo_env = load_or_create_demo_env(var_dir)
    for key in ("ENCRYPTION_KEY", "SESSION_SECRET", "API_KEY_SECRET", "SUPER_API_KEY"):
        os.environ.setdefault(key, demo_env[key])
    os.environ.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{var_dir / 'demo.db'}")
    # The demo's stub provider and identity provider listen on loopback, which the egress policy
    # refuses unless allowed: allow it here, explicitly, beside whatever the environment allows.
    allowed = [os.environ.get("OUTBOUND_ALLOW", "").strip(" ,"), DEMO_OUTBOUND_ALLOW]
    os.environ["OUTBOUND_ALLOW"] = ",".join(filter(None, allowed))
    stub = StubProvider({DEMO_PROVIDER_KEY}, port=stub_port).start()
    os.environ.setdefault("OPENAI_BASE_URL", f"{stub.url}/v1")
    # Globex's Anthropic key is tested against the stub too (which refuses it: the demo's failure).
    os.environ.setdefault("ANTHROPIC_BASE_URL", f"{stub.url}/v1")
    os.environ.setdefault("PUBLIC_URL", f"http://{host}:{port}")  # the demo provider's exact redirect URI
    # A newcomer signs in with the printed password alone; a second factor can be set up after.
    os.environ.setdefault("PLATFORM_ADMIN_MFA", "optional")
    settings = settings_or_exit()
    upgrade_blocking(settings)
    asyncio.run(seed_demo(settings, demo_env["DEMO_ADMIN_PASSWORD"], stub.url))
    tested = asyncio.run(run_demo_connection_tests(settings))
    from portal.demo.sso import start_demo_sso

    _idp, sso_help = start_demo_sso(settings, "127.0.0.1", idp_port)
    click.echo(
        "\n  Demo portal: http://{host}:{port}/\n"
        "  Platform admin: {email}\n  Password:       {password}\n"
        "  Second factor:  {mfa} (PLATFORM_ADMIN_MFA={mfa}; production default: required)\n"
        "  API key (X-API-Key): {api_key}\n  OpenAPI:        http://{host}:{port}/schema\n"
        "  Demo secrets are kept in {env_file}\n"
        "  Outbound calls may reach loopback here: OUTBOUND_ALLOW={allowed}\n"
        "  Connection tests of the demo credentials, just now:\n{tested}\n\n{sso_help}".format(
            host=host,
            port=port,
            email=ADMIN_EMAIL,
            password=demo_env["DEMO_ADMIN_PASSWORD"],
            mfa=settings.platform_admin_mfa,
            api_key=os.environ["SUPER_API_KEY"],
            env_file=var_dir / "demo.env",
            allowed=os.environ["OUTBOUND_ALLOW"],
            tested="\n".join(f"    {line}" for line in tested),
            sso_help=sso_help,
        )
    )
    _serve(settings, host, port, 1, migrate=False)
