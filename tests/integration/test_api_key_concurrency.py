"""Concurrent changes to one API key, on SQLite and PostgreSQL: increases add up, one rotation wins,
a retried usage report counts once across a rotation, and the longest accepted names are stored."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from portal.db.models import ApiKey, UsageEvent
from tests.support.api import create_key, new_tenant, portal_url, report

CONCURRENT = 12


async def test_concurrent_limit_increases_add_up_exactly(api, app):
    tenant = await new_tenant(api)
    key = await create_key(api, tenant, limit_usd=10)
    url = portal_url(tenant, f"/api-keys/{key['id']}/increase-limit")
    answers = await asyncio.gather(*(api.post(url, json={"amount_usd": "1.25"}) for _ in range(CONCURRENT)))
    assert [a.status_code for a in answers] == [200] * CONCURRENT, [a.text for a in answers]
    async with app.state.portal.sessions() as db:
        limit = await db.scalar(select(ApiKey.limit_micros).where(ApiKey.id == uuid.UUID(key["id"])))
    assert limit == 10_000_000 + CONCURRENT * 1_250_000


async def test_concurrent_rotations_mint_one_replacement_and_the_others_get_409(api, app):
    tenant = await new_tenant(api)
    key = await create_key(api, tenant)
    url = portal_url(tenant, f"/api-keys/{key['id']}/rotate")
    answers = await asyncio.gather(*(api.post(url, json={"grace": "1h"}) for _ in range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409], [a.text for a in answers]
    async with app.state.portal.sessions() as db:
        replacements = await db.scalar(
            select(func.count()).where(ApiKey.rotated_from_id == uuid.UUID(key["id"]))
        )
        old = await db.get(ApiKey, uuid.UUID(key["id"]))
    winner = next(a.json() for a in answers if a.status_code == 201)
    assert replacements == 1 and str(old.replaced_by_id) == winner["id"]


async def test_a_retry_sent_with_the_rotated_keys_replacement_counts_once(api, anon, app):
    tenant = await new_tenant(api)
    key = await create_key(api, tenant, limit_usd=100, scopes=["resolve", "usage:write"])
    idempotency = "retry-" + uuid.uuid4().hex
    first = await report(anon, key["key"], "0.50", idempotency_key=idempotency)
    assert first.status_code == 201, first.text
    rotated = await api.post(portal_url(tenant, f"/api-keys/{key['id']}/rotate"), json={"grace": "1h"})
    assert rotated.status_code == 201, rotated.text
    retry = await report(anon, rotated.json()["key"], "0.50", idempotency_key=idempotency)
    assert retry.status_code == 200, retry.text  # recognised as the same report
    different = await report(anon, rotated.json()["key"], "0.75", idempotency_key=idempotency)
    assert different.status_code == 409 and different.json()["code"] == "idempotency_conflict"
    async with app.state.portal.sessions() as db:
        counted = await db.scalar(select(func.count()).where(UsageEvent.idempotency_key == idempotency))
    assert counted == 1


async def test_the_longest_provider_and_model_names_the_usage_api_accepts_are_stored(api, anon, app):
    tenant = await new_tenant(api)
    key = await create_key(api, tenant, scopes=["resolve", "usage:write"])
    provider, model = "p" * 200, "m" * 200
    answer = await report(anon, key["key"], "0.01", provider=provider, model=model)
    assert answer.status_code == 201, answer.text
    too_long = await report(anon, key["key"], "0.01", provider=provider + "p")
    assert too_long.status_code == 400 and "provider" in too_long.text
    async with app.state.portal.sessions() as db:
        stored = await db.scalar(select(UsageEvent).where(UsageEvent.api_key_id == uuid.UUID(key["id"])))
    assert (stored.provider, stored.model) == (provider, model)
