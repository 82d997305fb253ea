"""Abuse limits: failed sign-ins, second-factor checks, invitation look-ups and API keys.

Usage, for any check of something guessable::

    attempt = await throttle.check("sign_in", client_ip=ip, account=email)  # may raise Throttled
    ...verify...
    await (attempt.succeeded() if ok else attempt.failed())

`check` raises `Throttled(retry_after)` before anything is verified, so a throttled attempt costs no
password hash and no key look-up. Every attempt counts as a failure from the moment it is let through
(so a burst of concurrent guesses cannot slip past the count); `succeeded()` gives that count back.

Per client address (an IPv6 address by its /64) and, where there is one, per account: the first
failures in a window are free; after that each further attempt waits, twice as long as the one before,
capped (`FIRST_WAIT`, `MAX_WAIT`). Counts are forgotten `WINDOW` seconds after a window's first
failure, so no lock-out is permanent. An account's limit holds only for addresses that have failed
themselves in the window: an attacker can make the account wait, but its owner signing in from an
address of their own is not refused (the per-address limit is what stops a single guesser).

Counts live in Redis when REDIS_URL is set (every worker and host shares them), in memory otherwise
(the `limits` library's async storage either way).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.errors import StorageError

from portal.audit import anonymous
from portal.errors import ServiceError

log = logging.getLogger("portal.throttle")

WINDOW = 15 * 60  # seconds a window of failures lasts from its first failure
FIRST_WAIT = 30  # seconds the first attempt past the free ones waits; each next one waits twice as long
MAX_WAIT = 15 * 60
MAX_QUIET_ADDRESSES = 10_000
KEY_PREFIX = "portal-throttle"


@dataclass(frozen=True)
class Policy:
    per_address: int  # free failures per client address in a window
    per_account: int | None = None  # free failures per account in a window; None: not counted
    # Counted when let through (a burst of concurrent guesses cannot slip past the count), given
    # back on success. Off for API keys: a busy service's concurrent calls must never add up to a
    # throttle; there only failures are counted, once they are known.
    counted_up_front: bool = True
    # Addresses that have not failed on this process skip the shared store (the resolve hot path).
    quiet_fast_path: bool = False


POLICIES: dict[str, Policy] = {
    "sign_in": Policy(per_address=20, per_account=5),
    "second_factor": Policy(per_address=20, per_account=5),
    "invitation": Policy(per_address=20),
    "api_key": Policy(per_address=20, counted_up_front=False, quiet_fast_path=True),
}


class Throttled(ServiceError):
    """Too many failed attempts: try again after `retry_after` seconds (429 with Retry-After)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, kind: str, retry_after: int) -> None:
        self.kind = kind
        self.retry_after = retry_after
        super().__init__(f"Too many failed attempts. Try again in {wait_words(retry_after)}.")
        self.headers = {"Retry-After": str(retry_after)}


def wait_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@dataclass(frozen=True)
class ThrottleStart:
    """An account's free failures are used up: its attempts wait from now on (audited once a window)."""

    kind: str
    account: str
    client_ip: str | None
    failures: int


def address_key(client_ip: str | None) -> str:
    """The address counted: IPv4 as is, IPv6 by its /64 (one host usually holds a whole /64)."""
    if not client_ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _account_key(account: str) -> str:
    # Hashed: keys stay short and the store holds no e-mail addresses.
    return hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]


def storage_for(redis_url: str | None, key_prefix: str = KEY_PREFIX) -> Storage:
    """The `limits` storage: Redis (shared by every process) when REDIS_URL is set, else memory."""
    if not redis_url:
        return MemoryStorage()
    uri = redis_url.replace("unix://", "redis+unix://", 1) if redis_url.startswith("unix://") else redis_url
    return RedisStorage(f"async+{uri}", implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True)


async def close_storage(storage: Storage) -> None:
    """Close a Redis storage's connection pool (nothing to do for memory)."""
    bridge: Any = getattr(storage, "bridge", None)
    client: Any = getattr(bridge, "storage", None)
    if client is not None and hasattr(client, "aclose"):
        await client.aclose()


class Attempt:
    """One attempt let through by `check`: report how it ended with `failed()` or `succeeded()`."""

    def __init__(
        self,
        throttle: Throttle,
        kind: str,
        client_ip: str | None,
        account: str | None,
        reserved: list[str],
    ) -> None:
        self._throttle = throttle
        self.kind = kind
        self.client_ip = client_ip
        self.address = address_key(client_ip)
        self.account = account
        self._reserved = reserved  # counter keys this attempt was counted in
        self._done = False

    async def failed(self) -> None:
        if not self._done:
            self._done = True
            await self._throttle._failed(self)

    async def succeeded(self) -> None:
        if not self._done:
            self._done = True
            await self._throttle._release(self._reserved)


class Throttle:
    def __init__(
        self,
        storage: Storage | None = None,
        *,
        policies: dict[str, Policy] | None = None,
        on_account_throttled: Callable[[ThrottleStart], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage if storage is not None else MemoryStorage()
        self.policies = policies or POLICIES
        self.on_account_throttled = on_account_throttled
        self.clock = clock
        self._failed_here: dict[str, float] = {}  # "kind:address" -> until when (quiet fast path)

    async def check(self, kind: str, *, client_ip: str | None, account: str | None = None) -> Attempt:
        """Let the attempt through (counted as a failure until it succeeds) or raise Throttled."""
        policy = self.policies[kind]
        account = account.strip().lower() if account and policy.per_account is not None else None
        attempt = Attempt(self, kind, client_ip, account, [])
        if policy.quiet_fast_path and not self._has_failed_here(kind, attempt.address):
            return attempt
        try:
            if policy.counted_up_front:
                await self._reserve_all(attempt, policy)
            else:
                gate = self._key(kind, "address", attempt.address) + ":gate"
                wait = await self.storage.get_expiry(gate) - self.clock()
                if wait > 0:
                    self._refused(kind, wait)
        except StorageError:
            log.warning("throttle store unavailable; %s attempt let through uncounted", kind, exc_info=True)
        return attempt

    async def _reserve_all(self, attempt: Attempt, policy: Policy) -> None:
        address_counter = self._key(attempt.kind, "address", attempt.address)
        wait, count = await self._reserve(address_counter, policy.per_address, gated=True)
        if wait is not None:
            self._refused(attempt.kind, wait)
        attempt._reserved.append(address_counter)
        if attempt.account is None or policy.per_account is None:
            return
        account_counter = self._key(attempt.kind, "account", _account_key(attempt.account))
        # An address with no failures of its own in this window is not held back by the account's.
        wait, _ = await self._reserve(account_counter, policy.per_account, gated=count > 1)
        if wait is not None:
            await self._release(attempt._reserved)
            self._refused(attempt.kind, wait)
        attempt._reserved.append(account_counter)

    def _refused(self, kind: str, wait: float) -> None:
        anonymous.note(f"{kind}: throttled")
        raise Throttled(kind, max(1, math.ceil(wait)))

    async def _reserve(self, counter: str, free: int, *, gated: bool) -> tuple[float | None, int]:
        """Count one attempt; (None, count) when it may go ahead, else (seconds to wait, count)."""
        count = await self.storage.incr(counter, WINDOW)
        if count < free:
            return None, count
        gate = counter + ":gate"
        # From the last free attempt on, one attempt goes ahead per wait: the one whose INCR creates
        # the gate key (atomic, so a burst of concurrent attempts gets a single turn). The key lives
        # for the next wait, twice as long as the one before.
        opened = await self.storage.incr(gate, self._wait(count - free + 1)) == 1
        if opened or not gated:
            return None, count
        await self.storage.incr(counter, WINDOW, amount=-1)  # a refused attempt is not a failure
        return await self.storage.get_expiry(gate) - self.clock(), count

    @staticmethod
    def _wait(step: int) -> int:
        return int(min(MAX_WAIT, FIRST_WAIT * 2 ** min(step - 1, 20)))

    async def _release(self, counters: list[str]) -> None:
        try:
            for counter in counters:
                await self.storage.incr(counter, WINDOW, amount=-1)
        except StorageError:
            log.warning("throttle store unavailable; a success was not given back", exc_info=True)

    async def _failed(self, attempt: Attempt) -> None:
        policy = self.policies[attempt.kind]
        try:
            if not policy.counted_up_front:  # counted now that it is known to have failed
                address_counter = self._key(attempt.kind, "address", attempt.address)
                count = await self.storage.incr(address_counter, WINDOW)
                if count >= policy.per_address:
                    wait = self._wait(count - policy.per_address + 1)
                    await self.storage.incr(address_counter + ":gate", wait)
            if policy.quiet_fast_path:
                self._remember_failure(attempt.kind, attempt.address)
            if attempt.account is not None and policy.per_account is not None:
                await self._announce(attempt, policy.per_account)
        except StorageError:
            log.warning("throttle store unavailable; a failure was not counted", exc_info=True)

    async def _announce(self, attempt: Attempt, free: int) -> None:
        """Tell (once a window) that an account's free failures are used up."""
        assert attempt.account is not None
        counter = self._key(attempt.kind, "account", _account_key(attempt.account))
        failures = await self.storage.get(counter)
        if failures < free or self.on_account_throttled is None:
            return
        if await self.storage.incr(counter + ":announced", WINDOW) != 1:
            return
        start = ThrottleStart(attempt.kind, attempt.account, attempt.client_ip, failures)
        try:
            await self.on_account_throttled(start)
        except Exception:  # the refusal still stands; the failure to record it is logged
            log.exception("could not record the start of a %s throttle", attempt.kind)

    async def first_in_window(self, what: str) -> bool:
        """True the first time `what` happens in a window (for "audit once, count the rest")."""
        try:
            return await self.storage.incr(f"once:{what}", WINDOW) == 1
        except StorageError:
            log.warning("throttle store unavailable", exc_info=True)
            return True

    def _has_failed_here(self, kind: str, address: str) -> bool:
        until = self._failed_here.get(f"{kind}:{address}")
        return until is not None and until > self.clock()

    def _remember_failure(self, kind: str, address: str) -> None:
        if len(self._failed_here) >= MAX_QUIET_ADDRESSES:
            now = self.clock()
            self._failed_here = {k: v for k, v in self._failed_here.items() if v > now}
            if len(self._failed_here) >= MAX_QUIET_ADDRESSES:
                self._failed_here.clear()
        self._failed_here[f"{kind}:{address}"] = self.clock() + WINDOW

    @staticmethod
    def _key(kind: str, scope: str, value: str) -> str:
        return f"{kind}:{scope}:{value}"

    async def forget_all(self) -> None:
        """Forget every count and wait (in this process's memory, or this store's Redis keys)."""
        self._failed_here.clear()
        try:
            await self.storage.reset()
        except StorageError:
            log.warning("throttle store unavailable; counts not reset", exc_info=True)

    async def close(self) -> None:
        await close_storage(self.storage)


def throttle_of(connection: Any) -> Throttle:
    """The app's throttle, from a request or connection."""
    return connection.app.state.portal.throttle
