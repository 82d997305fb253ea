"""The spend ledger in Redis (REDIS_URL): shared by every process and host of the portal.

Atomic because Redis runs one script at a time: `reserve` is one Lua script that first gives back
what expired reservations hold, then checks every budget and increments every budget, and records
the reservation in a sorted set scored by its expiry; settle and record are one script each. A
budget is a hash (`s` spent, `r` reserved) under a prefix of this database's own
(Settings.redis_prefix), started from the usage events the first time any process uses it in its
period: a script that finds it missing says so, the caller reads the figure from the database and
runs the script again with it, and the script sets it only if the hash is still missing (whichever
process gets there first). Hashes expire a week after their period ends."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.apikeys.periods import Clock
from portal.budgets.background import Every, sweep_all
from portal.budgets.ledger import (
    RESERVATION_TTL_S,
    Budget,
    OverBudget,
    Reservation,
    checked_amount,
    in_order,
)
from portal.budgets.settled import load_settled
from portal.config import Settings
from portal.db.base import utcnow

KEPT_AFTER_PERIOD = timedelta(days=7)
KEPT_WITHOUT_PERIOD = timedelta(days=90)  # a budget that never resets: from its last use
SWEEP_EVERY_S = 30.0
SWEEP_BATCH = 1000

# Shared by the scripts: KEYS[1] the sorted set of open reservations (score: expiry in ms),
# KEYS[2] the hash of reservations (id -> "amount key key …"), KEYS[3…] the budgets' hashes.
_COMMON = """
local function release_expired(now, batch)
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, batch)
  for _, id in ipairs(ids) do
    local held = redis.call('HGET', KEYS[2], id)
    if held then
      local amount = nil
      for part in string.gmatch(held, '%S+') do
        if amount == nil then
          amount = tonumber(part)
        elseif redis.call('EXISTS', part) == 1 then
          redis.call('HINCRBY', part, 'r', 0 - amount)  -- (-0 is no integer to Redis)
        end
      end
      redis.call('HDEL', KEYS[2], id)
    end
    redis.call('ZREM', KEYS[1], id)
  end
  return #ids
end

-- A budget's hash exists, or is started here from the database's figure (when the caller sent it).
local function ready(key, settled, expire_at)
  if redis.call('EXISTS', key) == 0 then
    if settled == '' then return false end
    redis.call('HSET', key, 's', settled, 'r', 0)
  end
  redis.call('EXPIREAT', key, expire_at)
  return true
end
"""

# ARGV: now (ms), id, amount, expiry (ms), then per budget: limit ('' none), settled ('' unknown), expire_at.
# Answers {1} held; {0, i, spent, reserved} budget i has no room; {-1, i} budget i must be started.
_RESERVE = (
    _COMMON
    + """
local amount = tonumber(ARGV[3])
release_expired(ARGV[1], 100)
local n = #KEYS - 2
for i = 1, n do
  if not ready(KEYS[i + 2], ARGV[3 + 3 * i], ARGV[4 + 3 * i]) then return {-1, i} end
end
for i = 1, n do
  local limit = ARGV[2 + 3 * i]
  if limit ~= '' then
    local spent = tonumber(redis.call('HGET', KEYS[i + 2], 's'))
    local reserved = tonumber(redis.call('HGET', KEYS[i + 2], 'r'))
    if spent + reserved + amount > tonumber(limit) then return {0, i, spent, reserved} end
  end
end
local held = ARGV[3]
for i = 1, n do
  redis.call('HINCRBY', KEYS[i + 2], 'r', amount)
  held = held .. ' ' .. KEYS[i + 2]
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], held)
return {1}
"""
)

# ARGV: id, spend, expired ('1': past its expiry by the caller's clock). Answers what was spent.
_SETTLE = """
local held = redis.call('HGET', KEYS[2], ARGV[1])
local spend = tonumber(ARGV[2])
local release = 0
if held then
  release = tonumber(string.match(held, '%S+'))
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
elseif ARGV[3] ~= '1' then
  return 0
end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HINCRBY', KEYS[i], 'r', 0 - release)
    redis.call('HINCRBY', KEYS[i], 's', spend)
  end
end
return spend
"""

# KEYS: the budgets' hashes. ARGV: amount, then per budget: settled ('' unknown), expire_at.
# Answers {1} recorded, {-1, i} budget i must be started (nothing was added).
_RECORD = (
    _COMMON
    + """
for i = 1, #KEYS do
  if not ready(KEYS[i], ARGV[2 * i], ARGV[1 + 2 * i]) then return {-1, i} end
end
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 's', ARGV[1])
end
return {1}
"""
)

# KEYS[1] the budget's hash. ARGV: settled ('' unknown), expire_at. Answers spent, or -1: must be started.
_SPENT = (
    _COMMON
    + """
if not ready(KEYS[1], ARGV[1], ARGV[2]) then return -1 end
return tonumber(redis.call('HGET', KEYS[1], 's'))
"""
)

_SWEEP = (
    _COMMON
    + """
return release_expired(ARGV[1], tonumber(ARGV[2]))
"""
)


class RedisLedger:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock = utcnow,
        ttl_s: float = RESERVATION_TTL_S,
    ) -> None:
        import redis.asyncio as aioredis

        assert settings.redis_url, "the Redis ledger needs REDIS_URL"
        self.sessions = sessions
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_s)
        self.prefix = settings.redis_prefix("budgets")
        self._open = f"{self.prefix}:open"
        self._held = f"{self.prefix}:held"
        self._redis: Any = aioredis.from_url(settings.redis_url)
        self._reserve = self._redis.register_script(_RESERVE)
        self._settle = self._redis.register_script(_SETTLE)
        self._record = self._redis.register_script(_RECORD)
        self._spent = self._redis.register_script(_SPENT)
        self._sweep = self._redis.register_script(_SWEEP)
        self._sweeper = Every(SWEEP_EVERY_S, lambda: sweep_all(self.sweep, SWEEP_BATCH), "budgets-sweep")

    async def start(self) -> None:
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()
        await self._redis.aclose()

    def key_of(self, budget: Budget) -> str:
        return f"{self.prefix}:budget:{budget.ledger_id}"

    async def reserve(self, budgets: Sequence[Budget], amount_micros: int) -> Reservation:
        amount = checked_amount(amount_micros)
        budgets = in_order(budgets)
        now = self.clock()
        reservation = Reservation(uuid.uuid4(), budgets, amount, now + self.ttl)
        keys = [self._open, self._held, *map(self.key_of, budgets)]
        settled: dict[int, str] = {}
        while True:
            args: list[Any] = [_ms(now), str(reservation.id), amount, _ms(reservation.expires_at)]
            for i, budget in enumerate(budgets, 1):
                limit = "" if budget.limit_micros is None else budget.limit_micros
                args += [limit, settled.get(i, ""), self._expire_at(budget, now)]
            answer = [int(x) for x in await self._reserve(keys=keys, args=args)]
            if answer[0] == 1:
                return reservation
            if answer[0] == 0:
                raise OverBudget(budgets[answer[1] - 1], answer[2], answer[3], amount)
            settled[answer[1]] = str(await load_settled(self.sessions, budgets[answer[1] - 1]))

    async def settle(self, reservation: Reservation, actual_micros: int) -> int:
        spend = min(max(0, actual_micros), reservation.amount_micros)
        expired = "1" if self.clock() >= reservation.expires_at else "0"
        keys = [self._open, self._held, *map(self.key_of, in_order(reservation.budgets))]
        return int(await self._settle(keys=keys, args=[str(reservation.id), spend, expired]))

    async def record(self, budgets: Sequence[Budget], amount_micros: int) -> None:
        amount = checked_amount(amount_micros)
        budgets = in_order(budgets)
        now = self.clock()
        settled: dict[int, str] = {}
        while True:
            args: list[Any] = [amount]
            for i, budget in enumerate(budgets, 1):
                args += [settled.get(i, ""), self._expire_at(budget, now)]
            answer = [int(x) for x in await self._record(keys=list(map(self.key_of, budgets)), args=args)]
            if answer[0] == 1:
                return
            settled[answer[1]] = str(await load_settled(self.sessions, budgets[answer[1] - 1]))

    async def spent(self, budget: Budget) -> int:
        expire_at = self._expire_at(budget, self.clock())
        answer = int(await self._spent(keys=[self.key_of(budget)], args=["", expire_at]))
        if answer < 0:
            settled = await load_settled(self.sessions, budget)
            answer = int(await self._spent(keys=[self.key_of(budget)], args=[settled, expire_at]))
        return answer

    async def sweep(self) -> int:
        """Give back what expired reservations hold; how many there were."""
        return int(await self._sweep(keys=[self._open, self._held], args=[_ms(self.clock()), SWEEP_BATCH]))

    def _expire_at(self, budget: Budget, now: datetime) -> int:
        until = budget.end + KEPT_AFTER_PERIOD if budget.end is not None else now + KEPT_WITHOUT_PERIOD
        # Never in Redis's past (a period long gone, a clock moved in a test): that would delete it.
        return int(max(until.timestamp(), time.time() + KEPT_AFTER_PERIOD.total_seconds()))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
