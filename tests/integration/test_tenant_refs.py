"""A tenant is named by its id or its slug, and the guard and the loader agree on which tenant that is.

The attack: tenant A's slug is tenant B's id (written into the database, past validation). A member of
A asks for /t/{B's id}/…: the guard must not take that for A while the loader serves B.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import update

from portal.db.models import Tenant
from portal.tenant_configs import TenantConfigError, parse_tenant_configs
from tests.support.api import TENANTS, new_tenant, portal_url
from tests.support.signin import session_client

UUID_SHAPED = [
    str(uuid.uuid4()),
    uuid.uuid4().hex,  # 32 hex digits, no dashes: a valid slug, and a UUID to uuid.UUID()
    "0123-4567-89ab-cdef-0123-4567-89ab-cdef",  # dashes anywhere still parse
]


@pytest.mark.parametrize("slug", UUID_SHAPED)
async def test_a_uuid_shaped_slug_is_refused_at_creation_naming_slug(api, slug):
    response = await api.post(TENANTS, json={"name": "Looks like an id", "slug": slug})
    assert response.status_code == 400, response.text
    assert set(response.json()["errors"]) == {"slug"}
    assert "UUID" in response.json()["errors"]["slug"]


async def test_a_uuid_shaped_slug_is_refused_on_rename(api):
    tenant = await new_tenant(api)
    response = await api.put(f"{TENANTS}/{tenant['id']}", json={"slug": uuid.uuid4().hex})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"slug"}


def test_a_uuid_shaped_tenant_id_is_refused_in_tenant_configs():
    entry = {"tenant_id": str(uuid.uuid4()), "name": "X", "frontend_url": "https://x.example"}
    with pytest.raises(TenantConfigError) as refused:
        parse_tenant_configs(json.dumps([entry]))
    assert any("tenant_id" in problem and "UUID" in problem for problem in refused.value.problems)


async def test_a_slug_shaped_like_another_tenants_id_does_not_reach_that_tenant(app, api, make):
    attacker_tenant = await new_tenant(api, name="Tenant A")
    victim = await new_tenant(api, name="Tenant B")
    secret_key = await api.put(
        f"{TENANTS}/{victim['id']}/credentials/openai", json={"api_key": "sk-victim-" + uuid.uuid4().hex}
    )
    assert secret_key.status_code in (200, 201), secret_key.text
    member = await make.member(attacker_tenant["id"], "admin")
    async with app.state.portal.sessions() as db:  # past the new validation, as an old row would be
        await db.execute(
            update(Tenant).where(Tenant.id == uuid.UUID(attacker_tenant["id"])).values(slug=victim["id"])
        )
        await db.commit()

    async with session_client(app, member.id) as client:
        for path in (
            f"/t/{victim['id']}",
            f"/t/{victim['id']}/credentials",
            f"/t/{victim['id']}/members",
            portal_url(victim, "/llm-keys"),
            f"/t/{victim['id'].upper()}/credentials",
        ):
            response = await client.get(path)
            assert response.status_code == 404, (path, response.status_code)
            assert "Tenant B" not in response.text and "openai" not in response.text.lower()
        changed = await client.post(
            portal_url(victim, "/llm-keys"), json={"provider": "openai", "api_key": "x"}
        )
        assert changed.status_code == 404
        # The member's own tenant still answers under its id.
        assert (await client.get(f"/t/{attacker_tenant['id']}/credentials")).status_code == 200
