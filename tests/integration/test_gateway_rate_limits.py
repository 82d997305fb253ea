"""Per-key rpm and tpm limits of the gateway (portal.gateway.rate_limits), on the `limits` library's
memory storage and on Redis (shared between processes). No sleeps: a minute passing is the window's
reset (`RateLimits.reset`, the library's clear). The token figures keep a margin so a test that
crosses a minute's boundary (where the sliding counter weighs the previous minute a little less)
sees the same answers."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from portal.apikeys.entries import KeyEntry
from portal.gateway.rate_limits import KEY_PREFIX, RateLimits
from portal.web.throttle import storage_for
from tests.support import REDIS_URL, need_service

UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"  # the discard port: refused at once


def key_entry(rpm: int | None = None, tpm: int | None = None, lineage: uuid.UUID | None = None) -> KeyEntry:
    return KeyEntry(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        lineage_id=lineage or uuid.uuid4(),
        name="svc",
        prefix="t_sk_abcd",
        last_four="wxyz",
        scopes=frozenset({"inference"}),
        allowed_models=frozenset(),
        limit_micros=None,
        reset_period="monthly",
        rpm_limit=rpm,
        tpm_limit=tpm,
        expires_at=None,
        grace_ends_at=None,
        revoked_at=None,
        disabled=False,
        public={},
    )


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_limits(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], RateLimits]]:
    """Makes RateLimits that share one store: several of them stand for several processes."""
    made: list[RateLimits] = []
    prefix = f"{KEY_PREFIX}-test-{uuid.uuid4().hex[:8]}"
    shared = storage_for(None) if request.param == "memory" else None
    if request.param == "redis":
        need_service("Redis", "127.0.0.1", 6379)

    def make() -> RateLimits:
        limits = RateLimits(shared if shared is not None else storage_for(REDIS_URL, key_prefix=prefix))
        made.append(limits)
        return limits

    yield make
    for limits in made:
        await limits.close()


async def test_requests_per_minute(make_limits):
    limits = make_limits()
    key, other = key_entry(rpm=3), key_entry(rpm=3)
    assert [await limits.admit(key) for _ in range(3)] == [None, None, None]
    wait = await limits.admit(key)
    assert wait is not None and 1 <= wait <= 60 and wait == int(wait)
    assert await limits.admit(other) is None  # each key its own minute
    await limits.reset(key)  # the minute passes
    assert await limits.admit(key) is None


async def test_concurrent_requests_never_pass_rpm(make_limits):
    limits = make_limits()
    key = key_entry(rpm=5)
    answers = await asyncio.gather(*(limits.admit(key) for _ in range(50)))
    assert answers.count(None) == 5


async def test_processes_share_the_minute(make_limits):
    one, two = make_limits(), make_limits()
    key = key_entry(rpm=4)
    assert [await (one if n % 2 else two).admit(key) for n in range(4)] == [None] * 4
    assert await one.admit(key) is not None
    assert await two.admit(key) is not None


async def test_a_rotated_key_shares_its_lineage_minute(make_limits):
    limits = make_limits()
    old = key_entry(rpm=2)
    new = key_entry(rpm=2, lineage=old.lineage_id)
    assert await limits.admit(old) is None and await limits.admit(new) is None
    assert await limits.admit(new) is not None


async def test_tokens_per_minute(make_limits):
    limits = make_limits()
    key = key_entry(tpm=100)
    assert await limits.admit_tokens(key, 60) is None
    await limits.count_tokens(key, 60)
    wait = await limits.admit_tokens(key, 50)  # 60 + 50 would pass 100
    assert wait is not None and 1 <= wait <= 60
    assert await limits.admit_tokens(key, 40) is None  # 60 + 40 fits
    await limits.count_tokens(key, 70)  # counted whatever the limit: the answer was longer
    assert await limits.admit_tokens(key, 1) is not None
    await limits.reset(key)
    assert await limits.admit_tokens(key, 100) is None


async def test_a_request_larger_than_a_minute_goes_only_into_an_empty_minute(make_limits):
    limits = make_limits()
    key = key_entry(tpm=100)
    assert await limits.admit_tokens(key, 5000) is None
    await limits.count_tokens(key, 10)
    assert await limits.admit_tokens(key, 5000) is not None


async def test_a_zero_limit_refuses_everything(make_limits):
    limits = make_limits()
    assert await limits.admit(key_entry(rpm=0)) == 60
    assert await limits.admit_tokens(key_entry(tpm=0), 1) == 60


async def test_keys_without_limits_cost_no_store_call(caplog):
    limits = RateLimits(storage_for(UNREACHABLE_REDIS, key_prefix=KEY_PREFIX))
    try:
        key = key_entry()
        assert await limits.admit(key) is None
        assert await limits.admit_tokens(key, 10**6) is None
        await limits.count_tokens(key, 10**6)
        assert "unavailable" not in caplog.text  # the unreachable store was never asked
    finally:
        await limits.close()


async def test_an_unreachable_store_fails_open_and_says_so(caplog):
    caplog.set_level(logging.WARNING, "portal.gateway.rate_limits")
    limits = RateLimits(storage_for(UNREACHABLE_REDIS, key_prefix=KEY_PREFIX))
    try:
        key = key_entry(rpm=1, tpm=1)
        assert await limits.admit(key) is None
        assert await limits.admit(key) is None
        assert await limits.admit_tokens(key, 5) is None
        await limits.count_tokens(key, 5)
        assert caplog.text.count("rate limit store unavailable") == 4
    finally:
        await limits.close()
