"""Per-key rate limits of the gateway: requests per minute (`rpm_limit`) and tokens per minute
(`tpm_limit`), counted per key lineage (a rotated key and its replacement share their minute).

    limits = RateLimits.from_settings(settings)         # one per app; `await limits.close()` at shutdown
    wait = await limits.admit(key)                       # before anything else: counts the request
    wait = wait or await limits.admit_tokens(key, prompt_tokens)   # before forwarding
    if wait is not None: 429 with Retry-After: int(wait)
    ...forward...
    await limits.count_tokens(key, usage.total_tokens)   # after the answer (also a failed one's)

`admit` and `admit_tokens` return None (go) or the whole seconds (at least 1) to wait before a
request fits. Keys without a limit cost no storage call at all.

With the `limits` library, in Redis when REDIS_URL is set (every process and host shares the
counts), in memory otherwise; the storage helper is the throttle's (portal.web.throttle.storage_for),
with keys of its own prefix. Requests: a moving window (exact: the last 60 s; one entry per request,
at most rpm_limit of them). Tokens: a sliding window counter (this minute's count plus the previous
minute's weighted by how much of it is still inside the last 60 s: O(1) memory whatever the token
count; one Redis script per call).

Requests per minute are counted atomically as they are admitted: concurrent requests never pass
rpm. Tokens are known only afterwards, so `admit_tokens` refuses a request when the tokens already
counted this minute plus its estimate would pass tpm, and `count_tokens` adds the actual tokens
whatever the limit; requests in flight are not counted until they end (tpm is a rate, as at the
providers; spend limits are the ledger's, which reserves up front). A request whose estimate alone
is more than a minute's tokens is let through when the minute is otherwise empty (it could never fit).
If Redis cannot be reached the request goes ahead uncounted, logged: a rate limit fails open.
"""

from __future__ import annotations

import logging
import math
import time
from typing import cast

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import SlidingWindowCounterSupport, Storage
from limits.aio.strategies import MovingWindowRateLimiter, RateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from portal.apikeys.entries import KeyEntry
from portal.config import Settings
from portal.web.throttle import close_storage, storage_for

log = logging.getLogger("portal.gateway.rate_limits")

KEY_PREFIX = "portal-ratelimit"
MINUTE = 60
UNLIMITED = 2**52  # a limit no count reaches (exact in Redis's Lua numbers)


class RateLimits:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.requests = MovingWindowRateLimiter(storage)
        self.tokens = SlidingWindowCounterRateLimiter(storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(storage_for(settings.redis_url, key_prefix=KEY_PREFIX))

    async def admit(self, key: KeyEntry) -> float | None:
        """Count one request against the key's rpm_limit: None, or seconds to wait."""
        if key.rpm_limit is None:
            return None
        if key.rpm_limit <= 0:
            return float(MINUTE)
        item = RateLimitItemPerMinute(key.rpm_limit)
        try:
            if await self.requests.hit(item, "rpm", str(key.lineage_id)):
                return None
            return await self._wait(self.requests, item, "rpm", str(key.lineage_id))
        except StorageError:
            log.warning("rate limit store unavailable; a request let through uncounted", exc_info=True)
            return None

    async def admit_tokens(self, key: KeyEntry, estimated_tokens: int) -> float | None:
        """Would `estimated_tokens` more fit in the key's tpm_limit this minute? None, or seconds to wait."""
        if key.tpm_limit is None:
            return None
        if key.tpm_limit <= 0:
            return float(MINUTE)
        item = RateLimitItemPerMinute(key.tpm_limit)
        cost = max(1, min(estimated_tokens, key.tpm_limit))
        try:
            if await self.tokens.test(item, "tpm", str(key.lineage_id), cost=cost):
                return None
            return await self._wait(self.tokens, item, "tpm", str(key.lineage_id))
        except StorageError:
            log.warning("rate limit store unavailable; tokens not checked", exc_info=True)
            return None

    async def count_tokens(self, key: KeyEntry, actual_tokens: int) -> None:
        """Add the tokens a request used to the key's minute, whatever its limit."""
        if key.tpm_limit is None or key.tpm_limit <= 0 or actual_tokens <= 0:
            return
        item = RateLimitItemPerMinute(key.tpm_limit)
        try:
            await cast(SlidingWindowCounterSupport, self.storage).acquire_sliding_window_entry(
                item.key_for("tpm", str(key.lineage_id)), UNLIMITED, item.get_expiry(), actual_tokens
            )
        except StorageError:
            log.warning("rate limit store unavailable; %d tokens not counted", actual_tokens, exc_info=True)

    @staticmethod
    async def _wait(limiter: RateLimiter, item: RateLimitItem, *identifiers: str) -> float:
        stats = await limiter.get_window_stats(item, *identifiers)
        return float(max(1, math.ceil(stats.reset_time - time.time())))

    async def reset(self, key: KeyEntry) -> None:
        """Forget the key's current minute (what a minute passing does; for tests and operators)."""
        if key.rpm_limit is not None and key.rpm_limit > 0:
            await self.requests.clear(RateLimitItemPerMinute(key.rpm_limit), "rpm", str(key.lineage_id))
        if key.tpm_limit is not None and key.tpm_limit > 0:
            await self.tokens.clear(RateLimitItemPerMinute(key.tpm_limit), "tpm", str(key.lineage_id))

    async def close(self) -> None:
        await close_storage(self.storage)
