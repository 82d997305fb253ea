"""Every test on the session's database starts from the clean slate (tests.support.databases):
what one test makes or changes is gone for the next, in the rows and in the app's memory.

The two tests run in this order on each backend (pytest keeps a module's order within a backend):
the first leaves a tenant, a member, an issued key with usage, and a changed platform admin behind;
the second finds none of it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from portal.db.models import ApiKey, AuditEvent, Membership, Model, Tenant, UsageEvent, User
from tests.support.api import SERVICE_SCOPES, resolve
from tests.support.databases import CleanSlate
from tests.support.signin import ADMIN_EMAIL

LEFT_BEHIND: dict[str, dict[str, str]] = {}


async def _count(app, model) -> int:  # type: ignore[no-untyped-def]
    async with app.state.portal.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_test_leaves_rows_and_cached_entries_behind(backend, app, anon, make):
    tenant = await make.tenant(name="Left behind")
    member = await make.member(tenant, "admin")
    await make.credential(tenant)
    key, secret = await make.issued_key(tenant, scopes=SERVICE_SCOPES, limit_usd="5", reset_period="monthly")
    await make.usage(key, cost="0.25")
    served = await resolve(anon, secret)
    assert served.status_code == 200, served.text  # the hot path now holds the key
    async with app.state.portal.sessions() as db:
        await db.execute(update(User).where(User.email == ADMIN_EMAIL).values(name="Renamed by a test"))
        await db.commit()
    assert await _count(app, Tenant) == 1 and await _count(app, UsageEvent) == 1
    LEFT_BEHIND[backend] = {"slug": tenant.slug, "email": member.email, "secret": secret}


async def test_the_next_test_starts_from_the_clean_slate(backend, app, api, anon, clean_slate: CleanSlate):
    if backend not in LEFT_BEHIND:
        pytest.skip("runs after test_a_test_leaves_rows_and_cached_entries_behind")
    left = LEFT_BEHIND[backend]
    for model in (Tenant, Membership, ApiKey, UsageEvent):
        assert await _count(app, model) == 0, model.__name__
    async with app.state.portal.sessions() as db:
        assert await db.scalar(select(User.id).where(User.email == left["email"])) is None
        admin = await db.scalar(select(User).where(User.email == ADMIN_EMAIL))
    assert admin is not None and admin.name != "Renamed by a test"
    assert await _count(app, User) == len(clean_slate.rows["users"]) == 1
    assert await _count(app, Model) == len(clean_slate.rows["models"]) > 0  # the built-in catalogue
    assert await _count(app, AuditEvent) == len(clean_slate.rows["audit_events"])
    # The hot path forgot the key: it is unknown now, not served from memory.
    refused = await resolve(anon, left["secret"])
    assert refused.status_code == 401, refused.text
    assert (await api.get(f"/api/v1/sysadmin/tenants/{left['slug']}")).status_code == 404
