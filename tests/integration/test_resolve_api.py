"""The service API: resolve a credential and report usage with an issued key.

Every refusal of resolve has its status and JSON code; grace periods, expiry and limit resets are
checked with the app's clock moved, never by sleeping. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from portal.db.models import ApiKey, UsageEvent
from tests.support.api import (
    OPENAI_KEY,
    SERVICE_SCOPES,
    TENANTS,
    bearer,
    create_key,
    credentials_url,
    new_tenant,
    portal_url,
    refused,
    report,
    resolve,
)
from tests.support.apps import client_for
from tests.support.clock import moved_clock
from tests.support.env import API_KEY
from tests.support.rows import audit_actions, audit_rows, credential_rows, set_sealed_fields, usage_of_key

SHARED_ANTHROPIC = "sk-valid-provider-key-0001"  # tests/conftest.py's shared ANTHROPIC_API_KEY


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> dict:
    """A tenant with its own OpenAI key (Anthropic falls back to the shared key)."""
    created = await new_tenant(api)
    response = await api.put(
        credentials_url(created, "openai"), json={"api_key": OPENAI_KEY, "label": "Prod"}
    )
    assert response.status_code == 200, response.text
    return created


@pytest.fixture
async def service(app: Litestar):
    """A client for tenants' services: no platform key, no session."""
    async with client_for(app) as client:
        yield client


async def test_resolve_answers_own_and_shared_credentials(api, service, tenant):
    key = await create_key(api, tenant, scopes=SERVICE_SCOPES)
    response = await resolve(service, key["key"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["source"] == "tenant"
    assert body["secrets"] == {"api_key": OPENAI_KEY}
    assert body["provider"] == "openai" and body["model"] == "gpt-4o"
    assert body["base_url"].endswith("/v1")
    assert body["tenant"] == {"id": tenant["id"], "slug": tenant["slug"]}

    shared = await resolve(service, key["key"], "anthropic", "claude-sonnet-4-5")
    assert shared.status_code == 200, shared.text
    assert shared.json()["source"] == "shared"
    assert shared.json()["secrets"] == {"api_key": SHARED_ANTHROPIC}

    # The resolve answer is the one place a secret leaves: listings never show the issued key.
    listing = await api.get(portal_url(tenant, "/api-keys"))
    assert key["key"] not in listing.text and OPENAI_KEY not in listing.text
    one = await api.get(portal_url(tenant, f"/api-keys/{key['id']}"))
    assert key["key"] not in one.text
    assert one.json()["display"] == f"{key['prefix']}…{key['last_four']}"


async def test_missing_malformed_and_unknown_keys(service, tenant):
    refused(
        await service.post("/api/v1/resolve", json={"provider": "openai", "model": "gpt-4o"}),
        401,
        "missing_key",
    )
    refused(await resolve(service, "not-a-portal-key"), 401, "unknown_key")
    refused(await resolve(service, f"{tenant['slug']}_sk_" + "A" * 43), 401, "unknown_key")
    response = await resolve(service, f"{tenant['slug']}_sk_" + "B" * 43)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_revoked_key_is_refused_at_once(app, api, service, tenant):
    key = await create_key(api, tenant, scopes=SERVICE_SCOPES)
    assert (await resolve(service, key["key"])).status_code == 200  # now cached in memory
    assert (await api.delete(portal_url(tenant, f"/api-keys/{key['id']}"))).status_code == 204
    refused(await resolve(service, key["key"]), 401, "key_revoked")
    refused(await report(service, key["key"], 0.01), 401, "key_revoked")
    revoked = await audit_rows(app, tenant["id"], action="api_key.revoked")
    assert [e.target for e in revoked] == [f"api_key:{key['id']}"]


async def test_expired_key_is_refused(app, api, service, tenant):
    with moved_clock(app) as clock:
        key = await create_key(api, tenant, scopes=SERVICE_SCOPES, expires_in="1h")
        assert (await resolve(service, key["key"])).status_code == 200
        clock.advance(minutes=59, seconds=59)
        assert (await resolve(service, key["key"])).status_code == 200
        clock.advance(seconds=1)
        refused(await resolve(service, key["key"]), 401, "key_expired")


async def test_disabled_key_is_refused_until_enabled(app, api, service, tenant):
    key = await create_key(api, tenant, scopes=SERVICE_SCOPES)
    url = portal_url(tenant, f"/api-keys/{key['id']}")
    assert (await api.patch(url, json={"disabled": True})).json()["state"] == "disabled"
    refused(await resolve(service, key["key"]), 403, "key_disabled")
    assert (await api.patch(url, json={"disabled": False})).json()["state"] == "active"
    assert (await resolve(service, key["key"])).status_code == 200
    actions = [e.action for e in await audit_rows(app, tenant["id"])]
    assert "api_key.disabled" in actions and "api_key.enabled" in actions


async def test_rotated_key_works_until_its_grace_ends(app, api, service, tenant):
    with moved_clock(app, datetime(2026, 6, 1, 12, 0, tzinfo=UTC)) as clock:
        old = await create_key(api, tenant, scopes=SERVICE_SCOPES, limit_usd=5, reset_period="monthly")
        assert (await resolve(service, old["key"])).status_code == 200
        rotated = await api.post(portal_url(tenant, f"/api-keys/{old['id']}/rotate"), json={"grace": "24h"})
        assert rotated.status_code == 201, rotated.text
        assert rotated.headers["cache-control"] == "no-store"
        new = rotated.json()
        assert new["key"] != old["key"] and new["rotated_from_id"] == old["id"]
        old_now = (await api.get(portal_url(tenant, f"/api-keys/{old['id']}"))).json()
        assert old_now["replaced_by_id"] == new["id"] and old_now["state"] == "grace"
        assert old_now["grace_ends_at"].startswith("2026-06-02T12:00")

        # Both work during the grace period, and share one budget.
        assert (await resolve(service, new["key"])).status_code == 200
        assert (await report(service, old["key"], "1.50")).status_code == 201
        assert (await report(service, new["key"], "1.00")).json()["spent_usd"] == 2.5

        clock.advance(hours=23, minutes=59)
        assert (await resolve(service, old["key"])).status_code == 200
        clock.advance(minutes=1)
        refused(await resolve(service, old["key"]), 401, "key_grace_ended")
        assert (await resolve(service, new["key"])).status_code == 200
        assert (await api.get(portal_url(tenant, f"/api-keys/{old['id']}"))).json()["state"] == "replaced"
        again = await api.post(portal_url(tenant, f"/api-keys/{old['id']}/rotate"), json={"grace": "1h"})
        assert again.status_code == 409


async def test_suspended_tenant_is_refused(api, service, tenant):
    key = await create_key(api, tenant, scopes=SERVICE_SCOPES)
    assert (await resolve(service, key["key"])).status_code == 200
    assert (await api.put(f"{TENANTS}/{tenant['id']}", json={"status": "suspended"})).status_code == 200
    refused(await resolve(service, key["key"]), 403, "tenant_suspended")
    assert (await api.put(f"{TENANTS}/{tenant['id']}", json={"status": "active"})).status_code == 200
    assert (await resolve(service, key["key"])).status_code == 200


async def test_scopes(api, service, tenant):
    report_only = await create_key(api, tenant, scopes=["usage:write"])
    refused(await resolve(service, report_only["key"]), 403, "scope_missing")
    assert (await report(service, report_only["key"], 0.01)).status_code == 201
    refused(await service.get("/api/v1/usage", headers=bearer(report_only["key"])), 403, "scope_missing")
    resolve_only = await create_key(api, tenant, scopes=["resolve"])
    refused(await report(service, resolve_only["key"], 0.01), 403, "scope_missing")
    reader = await create_key(api, tenant, scopes=["usage:read"])
    reading = await service.get("/api/v1/usage", headers=bearer(reader["key"]))
    assert reading.status_code == 200 and reading.json()["spent_usd"] == 0
    bad = await api.post(portal_url(tenant, "/api-keys"), json={"name": "x", "scopes": ["admin"]})
    assert bad.status_code == 400 and "scopes" in bad.json()["errors"]


async def test_models_allowed_enabled_and_known(api, service, tenant):
    key = await create_key(api, tenant, scopes=SERVICE_SCOPES, allowed_models=["gpt-4o-mini"])
    refused(await resolve(service, key["key"], "openai", "gpt-4o"), 403, "model_not_allowed")
    assert (await resolve(service, key["key"], "openai", "gpt-4o-mini")).status_code == 200

    models = (await api.get(portal_url(tenant, "/providers/openai/models"))).json()
    mini = next(m for m in models if m["name"] == "gpt-4o-mini")
    switched = await api.put(portal_url(tenant, f"/providers/models/{mini['id']}"), json={"enabled": False})
    assert switched.status_code == 200, switched.text
    refused(await resolve(service, key["key"], "openai", "gpt-4o-mini"), 403, "model_not_enabled")

    refused(await resolve(service, key["key"], "openai", "gpt-9"), 404, "unknown_model")
    refused(await resolve(service, key["key"], "no-such-provider", "gpt-4o-mini"), 404, "unknown_model")
    unknown = await api.post(portal_url(tenant, "/api-keys"), json={"name": "x", "allowed_models": ["gpt-9"]})
    assert unknown.status_code == 400 and "allowed_models" in unknown.json()["errors"]


async def test_no_credential_and_strict_mode_never_shared(app, api, service, tenant):
    key = await create_key(api, tenant, scopes=SERVICE_SCOPES)
    refused(await resolve(service, key["key"], "mistral", "mistral-small-latest"), 404, "no_credential")
    hotpath = app.state.hotpath
    lenient = hotpath.settings
    hotpath.settings = dataclasses.replace(lenient, tenant_credentials_enabled=True)
    try:
        response = await resolve(service, key["key"], "anthropic", "claude-sonnet-4-5")
        refused(response, 404, "no_credential")
        assert "never apply" in response.json()["detail"]
        assert SHARED_ANTHROPIC not in response.text
        assert (await resolve(service, key["key"])).json()["source"] == "tenant"
    finally:
        hotpath.settings = lenient


async def test_undecryptable_credential_is_refused_with_its_reason(app, api, service):
    tenant = await new_tenant(api)
    assert (await api.put(credentials_url(tenant, "openai"), json={"api_key": OPENAI_KEY})).status_code == 200
    other = await new_tenant(api)
    assert (await api.put(credentials_url(other, "openai"), json={"api_key": OPENAI_KEY})).status_code == 200
    # A ciphertext copied from another tenant's row does not open here.
    [mine] = await credential_rows(app, tenant["id"])
    [theirs] = await credential_rows(app, other["id"])
    await set_sealed_fields(app, mine.id, dict(theirs.sealed_fields))
    key = await create_key(api, tenant, scopes=SERVICE_SCOPES)
    response = await resolve(service, key["key"])
    refused(response, 409, "credential_undecryptable")
    assert "integrity check failed" in response.json()["detail"]
    assert OPENAI_KEY not in response.text


async def test_limit_reached_then_raised(app, api, service, tenant):
    with moved_clock(app, datetime(2026, 6, 10, 8, 0, tzinfo=UTC)):
        key = await create_key(api, tenant, scopes=SERVICE_SCOPES, limit_usd="1.00", reset_period="daily")
        assert (await report(service, key["key"], "0.60")).status_code == 201
        assert (await resolve(service, key["key"])).status_code == 200
        assert (await report(service, key["key"], "0.40")).json()["spent_usd"] == 1.0
        response = await resolve(service, key["key"])
        refused(response, 429, "limit_reached")
        assert response.headers["retry-after"] == str(16 * 3600)  # until 00:00 UTC
        # Reports are still taken (the money was spent), the answer says so.
        assert (await report(service, key["key"], "0.05")).json()["spent_usd"] == 1.05
        raised = await api.post(
            portal_url(tenant, f"/api-keys/{key['id']}/increase-limit"), json={"amount_usd": 1}
        )
        assert raised.status_code == 200 and raised.json()["limit_usd"] == 2.0
        assert (await resolve(service, key["key"])).status_code == 200
    events = await audit_rows(app, tenant["id"])
    assert [e.action for e in events if e.action.startswith("api_key.limit")] == [
        "api_key.limit_warning",
        "api_key.limit_reached",
        "api_key.limit_increased",
    ]


@pytest.mark.parametrize(
    ("period", "last_moment", "next_period"),
    [
        ("daily", datetime(2026, 6, 10, 23, 59, 59, tzinfo=UTC), datetime(2026, 6, 11, 0, 0, tzinfo=UTC)),
        # 2026-06-14 is a Sunday: the week turns on Monday at 00:00 UTC.
        ("weekly", datetime(2026, 6, 14, 23, 59, 59, tzinfo=UTC), datetime(2026, 6, 15, 0, 0, tzinfo=UTC)),
        ("monthly", datetime(2026, 5, 31, 23, 59, 59, tzinfo=UTC), datetime(2026, 6, 1, 0, 0, tzinfo=UTC)),
    ],
)
async def test_limit_resets_at_the_period_boundary(
    app, api, service, tenant, period, last_moment, next_period
):
    with moved_clock(app, last_moment.replace(hour=0, minute=0, second=0)) as clock:
        if period == "weekly":
            clock.set(datetime(2026, 6, 8, 9, 0, tzinfo=UTC))  # that week's Monday
        if period == "monthly":
            clock.set(datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
        key = await create_key(api, tenant, scopes=SERVICE_SCOPES, limit_usd="2.00", reset_period=period)
        assert (await report(service, key["key"], "2.00")).status_code == 201
        clock.set(last_moment)
        refused(await resolve(service, key["key"]), 429, "limit_reached")
        clock.set(next_period)
        ok = await resolve(service, key["key"])
        assert ok.status_code == 200, ok.text
        assert ok.json()["spend"]["spent_usd"] == 0


async def test_invalid_bodies(api, service, tenant):
    key = await create_key(api, tenant, scopes=SERVICE_SCOPES)
    refused(
        await service.post("/api/v1/resolve", json={"provider": "openai"}, headers=bearer(key["key"])),
        400,
        "invalid_request",
    )
    for body in (b"not json", b"[]", b'{"provider": "openai", "model": "gpt-4o", "extra": 1}', b"x" * 20_000):
        response = await service.post("/api/v1/resolve", content=body, headers=bearer(key["key"]))
        refused(response, 400, "invalid_request")
    refused(await report(service, key["key"], "-1"), 400, "invalid_request")
    refused(await report(service, key["key"], "abc"), 400, "invalid_request")


async def test_a_retried_report_counts_once(app, api, service, tenant):
    key = await create_key(api, tenant, scopes=SERVICE_SCOPES, limit_usd=10)
    first = await report(service, key["key"], "0.25", idempotency_key="req-1")
    assert first.status_code == 201 and first.json()["duplicate"] is False
    retry = await report(service, key["key"], "0.25", idempotency_key="req-1")
    assert retry.status_code == 200 and retry.json()["duplicate"] is True
    assert retry.json()["id"] == first.json()["id"] and retry.json()["spent_usd"] == 0.25
    refused(await report(service, key["key"], "0.30", idempotency_key="req-1"), 409, "idempotency_conflict")
    # Ten concurrent retries of one new report: still one event.
    retries = await asyncio.gather(
        *(report(service, key["key"], "0.10", idempotency_key="req-2") for _ in range(10))
    )
    assert sorted(r.status_code for r in retries) == [200] * 9 + [201]
    assert await usage_of_key(app, key["id"]) == (2, 350_000)


async def test_fifty_concurrent_reports_leave_the_exact_total(app, api, service, tenant):
    key = await create_key(api, tenant, scopes=SERVICE_SCOPES, limit_usd=100, reset_period="monthly")
    responses = await asyncio.gather(*(report(service, key["key"], "0.013") for _ in range(50)))
    assert [r.status_code for r in responses] == [201] * 50
    assert await usage_of_key(app, key["id"]) == (50, 650_000)
    # Each answer shows the spend committed when it was recorded; the key's total is exact.
    shown = (await api.get(portal_url(tenant, f"/api-keys/{key['id']}"))).json()
    assert shown["spent_usd"] == pytest.approx(0.65)
    spend = await service.get("/api/v1/usage", headers=bearer(key["key"]))
    assert spend.status_code == 403  # the default scopes do not include usage:read


async def test_keys_of_one_tenant_never_act_for_another(app, api, service):
    alpha = await new_tenant(api)
    beta = await new_tenant(api)
    for tenant, secret in ((alpha, "sk-alpha-openai-key-0001"), (beta, "sk-beta-openai-key-0002")):
        assert (await api.put(credentials_url(tenant, "openai"), json={"api_key": secret})).status_code == 200
    key_a = await create_key(api, alpha, scopes=SERVICE_SCOPES, limit_usd=5)
    key_b = await create_key(api, beta, scopes=SERVICE_SCOPES, limit_usd=5)

    # A's key resolves A's credential, whatever it asks.
    answer = (await resolve(service, key_a["key"])).json()
    assert (
        answer["tenant"]["id"] == alpha["id"] and answer["secrets"]["api_key"] == "sk-alpha-openai-key-0001"
    )
    # A's random part behind B's slug is another key altogether: the hash decides, not the prefix.
    forged = beta["slug"] + "_sk_" + key_a["key"].split("_sk_", 1)[1]
    refused(await resolve(service, forged), 401, "unknown_key")

    # Usage reported with A's key is A's alone.
    assert (await report(service, key_a["key"], "1.00")).status_code == 201
    assert (await api.get(portal_url(beta, f"/api-keys/{key_b['id']}"))).json()["spent_usd"] == 0
    async with app.state.portal.sessions() as db:
        tenants = set(
            await db.scalars(
                select(UsageEvent.tenant_id).where(UsageEvent.api_key_id == uuid.UUID(key_a["id"]))
            )
        )
    assert tenants == {uuid.UUID(alpha["id"])}

    # A service key reaches none of B's API (404: B is not even confirmed to exist) nor its own portal API.
    for path in ("/api-keys", f"/api-keys/{key_b['id']}", "/llm-keys", "/providers"):
        response = await service.get(portal_url(beta, path), headers=bearer(key_a["key"]))
        assert response.status_code == 404, (path, response.text)
    own = await service.get(portal_url(alpha, "/api-keys"), headers=bearer(key_a["key"]))
    assert own.status_code == 403
    # A person of tenant A (through the platform key bound to A) cannot see B's key either.
    bound = {"X-API-Key": API_KEY, "x-tenant-id": alpha["slug"]}
    assert (await service.get(portal_url(beta, f"/api-keys/{key_b['id']}"), headers=bound)).status_code == 404
    assert (
        await service.get(portal_url(alpha, f"/api-keys/{key_b['id']}"), headers=bound)
    ).status_code == 404
    assert (await service.get(portal_url(alpha, "/api-keys"), headers=bound)).status_code == 200


async def test_platform_key_bound_with_x_tenant_id(api, service):
    tenant = await new_tenant(api)
    other = await new_tenant(api)
    by_id = {"X-API-Key": API_KEY, "x-tenant-id": tenant["id"]}
    assert (await service.get(portal_url(tenant, "/api-keys"), headers=by_id)).status_code == 200
    assert (await service.get(portal_url(other, "/api-keys"), headers=by_id)).status_code == 404
    created = await service.post(portal_url(tenant, "/api-keys"), json={"name": "bound-key"}, headers=by_id)
    assert created.status_code == 201
    nowhere = {"X-API-Key": API_KEY, "x-tenant-id": "no-such-tenant"}
    assert (await service.get(portal_url(tenant, "/api-keys"), headers=nowhere)).status_code == 404
    # Bound to one tenant, the platform key no longer acts platform-wide.
    assert (await service.get(TENANTS, headers=by_id)).status_code == 403


async def test_key_life_cycle_through_the_json_api(app, api, tenant):
    key = await create_key(
        api, tenant, name="prod-api-resolver-202611", plan="pro", metadata={"env": "prod", "service": "api"}
    )
    assert key["limit_usd"] == 20 and key["reset_period"] == "monthly" and key["plan"] == "pro"
    assert key["key"].startswith(f"{tenant['slug']}_sk_")
    other = await create_key(api, tenant, name="dev-batch-embeddings-202611", metadata={"env": "dev"})
    base = portal_url(tenant, "/api-keys")
    names = lambda response: sorted(k["name"] for k in response.json())  # noqa: E731
    assert names(await api.get(base, params={"name": "resolver"})) == ["prod-api-resolver-202611"]
    assert names(await api.get(base, params={"metadata": "env=dev"})) == ["dev-batch-embeddings-202611"]
    assert names(await api.get(base, params={"metadata": ["env=prod", "service=api"]})) == [
        "prod-api-resolver-202611"
    ]
    patched = await api.patch(
        f"{base}/{key['id']}", json={"limit_usd": 25, "metadata": {"env": "prod"}, "name": "prod-api-r2"}
    )
    assert patched.status_code == 200 and patched.json()["limit_usd"] == 25
    assert (await api.delete(f"{base}/{other['id']}")).status_code == 204
    assert names(await api.get(base, params={"state": "revoked"})) == ["dev-batch-embeddings-202611"]
    assert (await api.patch(f"{base}/{other['id']}", json={"name": "again"})).status_code == 409
    bad = await api.patch(f"{base}/{key['id']}", json={"reset_period": "yearly", "metadata": {"bad key!": 1}})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"reset_period", "metadata"}
    with moved_clock(app) as clock:
        clock.advance(days=91)
        revoked = await api.post(f"{base}/revoke-older", json={"older_than": "90d"})
    assert revoked.status_code == 200 and [k["name"] for k in revoked.json()] == ["prod-api-r2"]
    assert await audit_actions(app, tenant["id"], "api_key.") == [
        "api_key.created",
        "api_key.created",
        "api_key.updated",
        "api_key.revoked",
        "api_key.revoked",
    ]
    # The plans are presets an admin edits; keys keep what they copied.
    plans = await api.put(portal_url(tenant, "/api-key-plans"), json={"pro": {"limit_usd": 30}})
    assert {p["name"]: p["limit_usd"] for p in plans.json()}["pro"] == 30
    async with app.state.portal.sessions() as db:
        stored = await db.get_one(ApiKey, uuid.UUID(key["id"]))
    assert stored.limit_micros == 25_000_000 and key["key"] not in str(stored.__dict__)
