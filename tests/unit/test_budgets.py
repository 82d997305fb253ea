"""Budgets, their order and amounts, and which ledger the settings choose (no server is called)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from portal.budgets.database import DatabaseLedger
from portal.budgets.factory import ledger_for
from portal.budgets.ledger import Budget, checked_amount, in_order
from portal.budgets.memory import MemoryLedger
from portal.budgets.redis_ledger import RedisLedger
from portal.budgets.settled import owner_of
from portal.db.engine import create_engine, create_session_factory
from tests.support import make_settings

NOW = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)


def test_a_keys_budget_is_its_lineage_in_its_reset_period_and_a_tenants_is_monthly() -> None:
    lineage, tenant = uuid.uuid4(), uuid.uuid4()
    daily = Budget.of_key(lineage, 5, "daily", NOW)
    assert daily.ledger_id == f"key:{lineage}@2026-12-02T00:00:00+00:00"
    assert daily.end == datetime(2026, 12, 3, tzinfo=UTC) and daily.limit_micros == 5
    forever = Budget.of_key(lineage, None, "none", NOW)
    assert forever.period == "1970-01-01T00:00:00+00:00" and forever.end is None
    monthly = Budget.of_tenant(tenant, 7, NOW)
    assert monthly.ledger_id == f"tenant:{tenant}@2026-12-01T00:00:00+00:00"
    assert monthly.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert owner_of(daily) == ("key", lineage) and owner_of(monthly) == ("tenant", tenant)


def test_budgets_are_taken_once_each_in_one_order() -> None:
    key = Budget.of_key(uuid.uuid4(), 5, "daily", NOW)
    tenant = Budget.of_tenant(uuid.uuid4(), None, NOW)
    assert in_order([tenant, key, tenant]) == in_order([key, tenant]) == (key, tenant)


@pytest.mark.parametrize("bad", [-1, 0.5, True, "3", None])
def test_an_amount_is_whole_micros_zero_or_more(bad: object) -> None:
    with pytest.raises(ValueError, match="whole number of micro-USD"):
        checked_amount(bad)  # type: ignore[arg-type]
    assert checked_amount(0) == 0


def test_an_unknown_budget_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown budget"):
        owner_of(Budget("team:x", "p", NOW, None, None))


@pytest.mark.parametrize(
    ("database", "redis", "kind"),
    [
        ("sqlite", None, MemoryLedger),
        ("postgresql", None, DatabaseLedger),
        ("sqlite", "redis://127.0.0.1:6379/3", RedisLedger),
        ("postgresql", "redis://127.0.0.1:6379/3", RedisLedger),
    ],
)
async def test_the_settings_choose_the_ledger(
    tmp_path: Path, database: str, redis: str | None, kind: type
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
        if database == "sqlite"
        else "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    )
    settings = make_settings(tmp_path, url, **({"REDIS_URL": redis} if redis else {}))
    engine = create_engine(settings)
    ledger = ledger_for(settings, engine, create_session_factory(engine))
    assert isinstance(ledger, kind)
    if isinstance(ledger, RedisLedger):  # namespaced by the database: two portals never meet
        assert ledger.prefix == settings.redis_prefix("budgets") != settings.redis_prefix("hotpath")
        await ledger._redis.aclose()
    await engine.dispose()
