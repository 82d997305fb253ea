"""The throttle's rules on the `limits` library's in-memory storage (the same code runs on Redis)."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest
from limits.aio.storage import MemoryStorage

from portal.audit.anonymous import RefusalTally
from portal.web.throttle import MAX_WAIT, Policy, Throttle, Throttled, ThrottleStart, address_key


def throttle(**policy: int) -> Throttle:
    return Throttle(MemoryStorage(), policies={"t": Policy(**policy)})


async def fail(t: Throttle, address: str = "192.0.2.1", account: str | None = None) -> None:
    attempt = await t.check("t", client_ip=address, account=account)
    await attempt.failed()


async def test_the_free_failures_then_a_wait_twice_as_long_each_time_capped():
    t = throttle(per_address=3)
    for _ in range(3):
        await fail(t)
    waits = []
    for _ in range(8):
        with pytest.raises(Throttled) as refused:
            await fail(t)
        waits.append(refused.value.retry_after)
        # The wait passing: its gate key expires (cleared here rather than waited for).
        await t.storage.clear("t:address:192.0.2.1:gate")
        await fail(t)
    assert waits[0] <= 30
    assert all(later > earlier for earlier, later in itertools.pairwise(waits[:6]))
    assert max(waits) == MAX_WAIT and all(w <= MAX_WAIT for w in waits)


async def test_a_burst_of_concurrent_attempts_gets_only_the_free_ones():
    t = throttle(per_address=3)

    async def one() -> bool:
        try:
            await t.check("t", client_ip="192.0.2.7")
        except Throttled:
            return False
        return True

    let_through = await asyncio.gather(*(one() for _ in range(50)))
    assert sum(let_through) == 3


async def test_successes_give_their_count_back():
    t = throttle(per_address=2)
    for _ in range(20):
        attempt = await t.check("t", client_ip="192.0.2.2")
        await attempt.succeeded()
    await fail(t, "192.0.2.2")
    await fail(t, "192.0.2.2")
    with pytest.raises(Throttled):
        await fail(t, "192.0.2.2")


async def test_an_ipv6_host_is_counted_by_its_64():
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    t = throttle(per_address=2)
    await fail(t, "2001:db8:1:2::1")
    await fail(t, "2001:db8:1:2::2")
    with pytest.raises(Throttled):
        await fail(t, "2001:db8:1:2::3")
    await fail(t, "2001:db8:9:9::1")


async def test_an_account_waits_for_failing_addresses_not_for_a_clean_one():
    starts: list[ThrottleStart] = []

    async def started(start: ThrottleStart) -> None:
        starts.append(start)

    policies = {"t": Policy(per_address=50, per_account=3)}
    t = Throttle(MemoryStorage(), policies=policies, on_account_throttled=started)
    for n in range(3):
        await fail(t, f"192.0.2.{n + 1}", "Admin@Example.com")
    with pytest.raises(Throttled):
        await fail(t, "192.0.2.1", "admin@example.com")  # an address that failed on it already
    owner = await t.check("t", client_ip="198.51.100.1", account="admin@example.com")
    await owner.succeeded()
    for _ in range(5):
        with pytest.raises(Throttled):
            await fail(t, "192.0.2.2", "admin@example.com")
    assert len(starts) == 1, "told once a window, not once an attempt"
    assert starts[0].account == "admin@example.com" and starts[0].kind == "t"


async def test_api_keys_count_failures_only_and_skip_the_store_until_one():
    policy = Policy(per_address=2, counted_up_front=False, quiet_fast_path=True)
    t = Throttle(MemoryStorage(), policies={"t": policy})
    for _ in range(10):
        attempt = await t.check("t", client_ip="192.0.2.9")
        await attempt.succeeded()
    assert await t.storage.get("t:address:192.0.2.9") == 0
    await fail(t, "192.0.2.9")
    # A busy service's concurrent calls, from an address with a failure, never add up to a throttle.
    attempts = await asyncio.gather(*(t.check("t", client_ip="192.0.2.9") for _ in range(50)))
    await asyncio.gather(*(attempt.succeeded() for attempt in attempts))
    await fail(t, "192.0.2.9")
    with pytest.raises(Throttled):
        await fail(t, "192.0.2.9")


def test_anonymous_refusals_are_one_log_line_a_minute(caplog):
    caplog.set_level(logging.INFO, logger="portal.refusals")
    now = [1000.0]
    tally = RefusalTally(every=60, clock=lambda: now[0])
    for _ in range(30):
        tally.note("sign_in: unknown account")
    now[0] += 61
    tally.note("api_key: unknown key")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].endswith("sign_in: unknown account: 1")
    assert lines[1].endswith("api_key: unknown key: 1, sign_in: unknown account: 29")
