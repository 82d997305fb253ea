"""The tenant overview: members and invitations, credentials and their last test, active keys and
those near their limit, this month's spend and recent audit events, each linking to its page; a
member sees only the sections (and links) of pages they may open."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select, update

from portal.db.base import utcnow
from portal.db.models import Credential, Provider
from tests.support.api import OPENAI_KEY, SERVICE_SCOPES, create_key, credentials_url, new_tenant, report
from tests.support.apps import client_for
from tests.support.signin import session_client

pytestmark = pytest.mark.usefixtures("app")


async def _mark_test(app, tenant_id: str, provider_name: str, ok: bool, reason: str | None) -> None:
    """What a connection test leaves on the credential (the tests themselves have their own suite)."""
    async with app.state.portal.sessions() as db:
        provider_id = await db.scalar(
            select(Provider.id).where(Provider.name == provider_name, Provider.tenant_id.is_(None))
        )
        await db.execute(
            update(Credential)
            .where(Credential.tenant_id == uuid.UUID(tenant_id), Credential.provider_id == provider_id)
            .values(last_test_at=utcnow(), last_test_ok=ok, last_test_reason=reason)
        )
        await db.commit()


async def _tenant_with_activity(app, api) -> tuple[dict, dict]:
    tenant = await new_tenant(api, name="Overview Co")
    tid = tenant["id"]
    assert (await api.put(credentials_url(tenant, "openai"), json={"api_key": OPENAI_KEY})).status_code == 200
    anthropic = {"api_key": "sk-ant-overview-0000-abcdefgh"}
    assert (await api.put(credentials_url(tenant, "anthropic"), json=anthropic)).status_code == 200
    await _mark_test(app, tid, "openai", True, None)
    await _mark_test(app, tid, "anthropic", False, "401 from the provider: invalid x-api-key")
    monthly = {"reset_period": "monthly"}
    near = await create_key(
        api, tenant, scopes=SERVICE_SCOPES, name="near-limit-svc-202611", limit_usd="1.00", **monthly
    )
    calm = await create_key(
        api, tenant, scopes=SERVICE_SCOPES, name="calm-svc-202611", limit_usd="100.00", **monthly
    )
    async with client_for(app) as service:
        for key, cost in ((near, "0.90"), (calm, "0.35")):
            assert (await report(service, key["key"], cost)).status_code == 201
    return tenant, near


async def test_overview_as_admin_and_as_member(app, api, make):
    tenant, near = await _tenant_with_activity(app, api)
    slug, tid = tenant["slug"], tenant["id"]
    admin = await make.member(tid, "admin")
    member = await make.member(tid, "member")
    await make.invitation(tid, "waiting@example.com")

    async with session_client(app, admin.id) as client:
        response = await client.get(f"/t/{slug}")
    assert response.status_code == 200, response.text
    page = response.text
    members = page[page.index('id="overview-members"') :]
    assert f'href="/t/{slug}/members"' in members
    assert '<p class="figure">2</p>' in members and "1 admin, 1 member" in members
    assert "1 pending invitation" in members
    keys = page[page.index('id="overview-keys"') :]
    assert '<p class="figure">2</p>' in keys.split("</article>")[0]
    assert f'<a href="/t/{slug}/api-keys/{near["id"]}">near-limit-svc-202611</a> (90 %)' in keys
    assert "calm-svc-202611" not in keys.split("</article>")[0]
    spend = page[page.index('id="overview-spend"') :].split("</article>")[0]
    assert "$1.25" in spend and "2 requests" in spend and f'href="/t/{slug}/usage"' in spend
    creds = page[page.index('id="overview-credentials"') :].split("</section>")[0]
    assert f'href="/t/{slug}/credentials"' in creds and "1 failing" in creds
    assert re.search(r"OpenAI.*?status-ok\">passing", creds, re.S)
    assert "failing</span>: 401 from the provider: invalid x-api-key" in creds
    assert "not tested" not in creds  # the other providers have no credential: a dash
    audit = page[page.index('id="overview-audit"') :].split("</section>")[0]
    assert f'href="/t/{slug}/audit"' in audit
    assert audit.count("<li>") == 5 and "invitation." in audit

    async with session_client(app, member.id) as client:
        page = (await client.get(f"/t/{slug}")).text
    assert 'id="overview-members"' not in page and 'id="overview-audit"' not in page
    assert f'href="/t/{slug}/members"' not in page and f'href="/t/{slug}/audit"' not in page
    assert f'href="/t/{slug}/api-keys/{near["id"]}"' in page and "$1.25" in page
    assert "failing</span>: 401 from the provider" in page


async def test_an_untested_credential_says_so(app, api, make):
    tenant = await new_tenant(api)
    assert (await api.put(credentials_url(tenant, "openai"), json={"api_key": OPENAI_KEY})).status_code == 200
    admin = await make.member(tenant["id"], "admin")
    async with session_client(app, admin.id) as client:
        page = (await client.get(f"/t/{tenant['slug']}")).text
    assert "not tested" in page and "No pending invitations" in page and "None near its limit." in page
