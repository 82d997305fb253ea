"""Pure rules of issued keys: format and hashing, reset periods at their UTC boundaries, durations,
money, what the hot path forgets on which change, forecasts."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from portal.apikeys import rules
from portal.apikeys.changes import changes_from_audit
from portal.apikeys.money import format_usd, usd_to_micros
from portal.apikeys.periods import parse_duration, period_bounds
from portal.apikeys.spend import forecast_one
from portal.cli import keys as keys_cli
from portal.crypto.issued_keys import key_digest, looks_like_issued_key, new_issued_key
from portal.errors import InvalidInput

SECRET = "s" * 40


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_issued_key_format_randomness_and_hash():
    first = new_issued_key("acme-corp", SECRET)
    second = new_issued_key("acme-corp", SECRET)
    assert re.fullmatch(r"acme-corp_sk_[A-Za-z0-9_-]{43}", first.secret)  # 32 random bytes: 256 bits
    assert first.secret != second.secret and first.digest != second.digest
    assert first.digest == key_digest(first.secret, SECRET)
    assert first.digest != key_digest(first.secret, "t" * 40)  # keyed: another server secret, another hash
    assert re.fullmatch(r"[0-9a-f]{64}", first.digest)
    assert first.prefix == first.secret[: len("acme-corp_sk_") + 4]
    assert first.last_four == first.secret[-4:]
    assert first.secret not in (first.digest, first.prefix)


def test_presented_keys_are_shape_checked_before_hashing():
    assert looks_like_issued_key(new_issued_key("a1", SECRET).secret)
    assert not looks_like_issued_key("no-marker-here")
    assert not looks_like_issued_key("a_sk_" + "x" * 300)
    assert not looks_like_issued_key("a_sk_\u00e9t\u00e9")


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        # Days turn at 00:00 UTC.
        ("daily", utc(2026, 3, 10, 23, 59, 59, 999999), utc(2026, 3, 10), utc(2026, 3, 11)),
        ("daily", utc(2026, 3, 11, 0, 0, 0), utc(2026, 3, 11), utc(2026, 3, 12)),
        # Weeks start on Monday (2026-03-09 is a Monday, 03-15 a Sunday).
        ("weekly", utc(2026, 3, 15, 23, 59, 59), utc(2026, 3, 9), utc(2026, 3, 16)),
        ("weekly", utc(2026, 3, 16, 0, 0, 0), utc(2026, 3, 16), utc(2026, 3, 23)),
        ("weekly", utc(2026, 3, 9, 0, 0, 0), utc(2026, 3, 9), utc(2026, 3, 16)),
        # Months: the last second of a 31-day month, February of a leap year, the year's end.
        ("monthly", utc(2026, 1, 31, 23, 59, 59), utc(2026, 1, 1), utc(2026, 2, 1)),
        ("monthly", utc(2026, 2, 1, 0, 0, 0), utc(2026, 2, 1), utc(2026, 3, 1)),
        ("monthly", utc(2028, 2, 29, 12, 0, 0), utc(2028, 2, 1), utc(2028, 3, 1)),
        ("monthly", utc(2026, 12, 31, 23, 59, 59), utc(2026, 12, 1), utc(2027, 1, 1)),
        ("monthly", utc(2027, 1, 1, 0, 0, 0), utc(2027, 1, 1), utc(2027, 2, 1)),
    ],
)
def test_reset_boundaries(period, now, start, end):
    assert period_bounds(period, now) == (start, end)


def test_boundaries_are_utc_whatever_the_clock_zone():
    # 01:30 on Monday in UTC+2 is still Sunday 23:30 UTC: the week has not turned yet.
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2026, 3, 16, 1, 30, tzinfo=plus_two)
    assert period_bounds("weekly", local) == (utc(2026, 3, 9), utc(2026, 3, 16))
    assert period_bounds("daily", local) == (utc(2026, 3, 15), utc(2026, 3, 16))
    # And 23:30 on 31 January in UTC-5 is already February in UTC.
    minus_five = timezone(timedelta(hours=-5))
    assert period_bounds("monthly", datetime(2026, 1, 31, 23, 30, tzinfo=minus_five))[0] == utc(2026, 2, 1)


def test_no_reset_is_one_period_from_the_epoch():
    start, end = period_bounds("none", utc(2026, 5, 5))
    assert end is None and start.year == 1970
    with pytest.raises(ValueError):
        period_bounds("yearly", utc(2026, 5, 5))


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("24h", timedelta(hours=24)),
        ("90d", timedelta(days=90)),
        ("2w", timedelta(weeks=2)),
        ("0h", timedelta(0)),
    ],
)
def test_durations(text, delta):
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", "24", "h", "1y", "-1d", "1.5h", "ten days"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match=r"e\.g\. 24h"):
        parse_duration(text)


def test_money_is_exact_in_micro_dollars():
    assert usd_to_micros("5.00") == 5_000_000
    assert usd_to_micros(0.1) == 100_000
    assert usd_to_micros("$1.2345675") == 1_234_568  # rounded half up to the micro-dollar
    assert usd_to_micros(0, allow_zero=True) == 0
    for bad in ("0", "-1", "abc", "NaN", "Infinity", None, True, "2000000"):
        with pytest.raises(ValueError):
            usd_to_micros(bad)
    assert format_usd(None) == "no limit"
    assert format_usd(5_000_000) == "$5.00"
    assert format_usd(1_234) == "$0.0012"


def test_which_changes_the_hot_path_forgets():
    tenant = uuid.uuid4()
    key = uuid.uuid4()
    assert changes_from_audit("api_key.revoked", tenant, f"api_key:{key}") == [("key", str(key))]
    assert changes_from_audit("tenant.suspended", tenant, "tenant:acme") == [("tenant", str(tenant))]
    assert changes_from_audit("credential.replaced", tenant, "credential:openai") == [("tenant", str(tenant))]
    assert changes_from_audit("model.disabled", tenant, "model:openai/gpt-4o") == [("tenant", str(tenant))]
    assert changes_from_audit("catalog.removed", None, "model:openai/gpt-4o") == [("catalog", "*")]
    assert changes_from_audit("master_key.rotated", None, "") == [("all", "*")]
    # A connection test changes nothing the hot path keeps; nor do sign-ins or members.
    assert changes_from_audit("credential.tested", tenant, "credential:openai") == []
    assert changes_from_audit("auth.sign_in", None, "") == []
    assert changes_from_audit("member.removed", tenant, "user:x") == []


def _view(limit: int | None, spent: int, created: datetime, period_end: datetime | None):
    key = SimpleNamespace(limit_micros=limit, created_at=created)
    return SimpleNamespace(key=key, spent_micros=spent, period_end=period_end)


def test_forecast_at_the_recent_rate():
    now = utc(2026, 3, 10, 12)
    # $1 a day over the last week, $3 of $10 spent: the limit is reached in 7 days.
    forecast = forecast_one(_view(10_000_000, 3_000_000, now - timedelta(days=30), None), 7_000_000, now)
    assert forecast.reaches_at == now + timedelta(days=7)
    # The same with a monthly reset at the end of March: it resets before that.
    early_reset = forecast_one(
        _view(10_000_000, 3_000_000, now - timedelta(days=30), utc(2026, 3, 15)), 7_000_000, now
    )
    assert early_reset.reaches_at is None and "resets first" in early_reset.note
    # A key two days old is judged over its two days, not seven.
    young = forecast_one(_view(10_000_000, 2_000_000, now - timedelta(days=2), None), 2_000_000, now)
    assert young.rate_micros_per_day == 1_000_000
    assert forecast_one(_view(None, 5, now, None), 5, now).note == "no limit"
    assert forecast_one(_view(10, 10, now, None), 0, now).note == "limit reached"
    assert forecast_one(_view(10, 1, now, None), 0, now).reaches_at is None


def test_the_command_line_offers_exactly_the_services_choices():
    assert keys_cli.SCOPES == rules.SCOPES
    assert keys_cli.RESET_PERIODS == rules.RESET_PERIODS
    assert tuple(rules.DEFAULT_PLANS) == keys_cli.PLANS
    assert keys_cli.STATES == rules.STATES


def test_a_tenant_opener_opens_its_own_sealed_fields_only():
    from cryptography.fernet import Fernet

    from portal.crypto.keyring import MasterKeyring
    from portal.crypto.sealing import Undecryptable
    from portal.crypto.vault import Vault

    vault = Vault(MasterKeyring(Fernet.generate_key().decode()))
    wrapped, _ = vault.new_wrapped_data_key()
    tenant, row = uuid.uuid4(), uuid.uuid4()
    sealed = vault.seal_fields(
        wrapped, tenant_id=tenant, table="credentials", row_id=row, values={"api_key": "sk-x" * 4}
    )
    opener = vault.opener(wrapped, tenant)
    assert opener.open_fields(table="credentials", row_id=row, sealed=sealed) == {"api_key": "sk-x" * 4}
    with pytest.raises(Undecryptable, match="api_key: integrity check failed"):
        opener.open_fields(table="credentials", row_id=uuid.uuid4(), sealed=sealed)
    with pytest.raises(Undecryptable, match="integrity check failed"):
        vault.opener(wrapped, uuid.uuid4()).open_fields(table="credentials", row_id=row, sealed=sealed)
    broken = vault.opener("not-a-wrapped-key", tenant)
    with pytest.raises(Undecryptable, match="does not open with ENCRYPTION_KEY"):
        broken.open_fields(table="credentials", row_id=row, sealed=sealed)
    assert "usable=True" in repr(opener) and "sk-x" not in repr(opener)


def test_new_keys_default_to_inference_alone():
    assert rules.DEFAULT_SCOPES == ("inference",)
    assert rules.check_scopes(None) == ["inference"]
    assert rules.check_scopes(["usage:write", "resolve"]) == ["resolve", "usage:write"]


@pytest.mark.parametrize(
    ("typed", "limit"), [("60", 60), (60, 60), ("1_000", 1000), ("", None), (None, None), ("none", None)]
)
def test_rate_limits_people_type(typed, limit):
    assert rules.check_rate(typed, "rpm_limit") == limit


@pytest.mark.parametrize(
    ("field", "typed", "problem"),
    [
        ("rpm_limit", "0", "must be more than 0"),
        ("rpm_limit", "-5", "a whole number per minute"),
        ("tpm_limit", "1.5", "a whole number per minute"),
        ("tpm_limit", True, "a whole number per minute"),
        ("rpm_limit", "1000001", "at most 1,000,000 per minute"),
        ("tpm_limit", 10**9 + 1, "at most 1,000,000,000 per minute"),
    ],
)
def test_rate_limits_refused_beside_their_field(field, typed, problem):
    with pytest.raises(InvalidInput) as info:
        rules.check_rate(typed, field)
    assert problem in info.value.errors[field]


def test_price_and_limit_changes_reach_the_hot_path():
    tenant = uuid.uuid4()
    assert changes_from_audit("model.prices_changed", None, "model:openai/gpt-4o") == [("catalog", "*")]
    assert changes_from_audit("model.prices_changed", tenant, "model:gw/m") == [("tenant", str(tenant))]
    assert changes_from_audit("tenant.limit_changed", tenant, "tenant:acme") == [("tenant", str(tenant))]
