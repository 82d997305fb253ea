"""Issued API keys: create, list, change, rotate, revoke; plans. Each change audited in its transaction.

The same functions serve the pages, the JSON API and the command line. `now` is passed in by the
caller (the app's clock), so the rules can be tested at any moment without sleeping.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from portal.apikeys.periods import format_duration, parse_duration, period_bounds, share, usd_to_micros
from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.config import Settings
from portal.crypto.issued_keys import new_issued_key
from portal.db.base import utcnow
from portal.db.models import ApiKey, ApiKeyPlan, Model, Provider, Tenant, UsageEvent
from portal.db.models.apikeys import ResetPeriod, Scope
from portal.errors import Conflict, InvalidInput, NotFound

SCOPES = tuple(s.value for s in Scope)
DEFAULT_SCOPES = (Scope.RESOLVE.value, Scope.USAGE_WRITE.value)
RESET_PERIODS = tuple(p.value for p in ResetPeriod)
# Plans are presets: a key copies its plan's limit at creation; editing a plan changes no key.
DEFAULT_PLANS: dict[str, tuple[int, str]] = {
    "free": (1_000_000, "monthly"),
    "basic": (5_000_000, "monthly"),
    "pro": (20_000_000, "monthly"),
    "enterprise": (100_000_000, "monthly"),
}
STATES = ("active", "grace", "disabled", "expired", "replaced", "revoked")
NAME_MAX = 200
ROTATED_ALREADY = "This key was rotated already: rotate its replacement instead"
NAME_HINT = "{environment}-{service}-{purpose}-{yyyymm}, e.g. prod-api-resolver-202611"
METADATA_MAX_BYTES = 4096
METADATA_MAX_KEYS = 50
MAX_GRACE = timedelta(days=30)
WARN_SHARE = 0.8
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


# ---------------------------------------------------------------------------- views


def key_state(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.grace_ends_at is not None and key.grace_ends_at <= now:
        return "replaced"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    if key.disabled:
        return "disabled"
    if key.grace_ends_at is not None:
        return "grace"
    return "active"


@dataclass(frozen=True)
class KeyView:
    key: ApiKey
    tenant_slug: str
    state: str
    spent_micros: int
    period_start: datetime
    period_end: datetime | None

    @property
    def display(self) -> str:
        return f"{self.key.prefix}…{self.key.last_four}"

    @property
    def share(self) -> float | None:
        return share(self.spent_micros, self.key.limit_micros)

    @property
    def usable(self) -> bool:
        return self.state in {"active", "grace"}

    @property
    def warning(self) -> bool:
        return self.usable and self.share is not None and self.share >= WARN_SHARE


# ---------------------------------------------------------------------------- validation


def check_name(name: str | None) -> str:
    clean = (name or "").strip()
    if not clean:
        raise InvalidInput({"name": f"required; suggested form {NAME_HINT}"})
    if len(clean) > NAME_MAX or any(not c.isprintable() for c in clean):
        raise InvalidInput({"name": f"at most {NAME_MAX} printable characters"})
    return clean


def check_scopes(scopes: Iterable[str] | None) -> list[str]:
    chosen = list(
        dict.fromkeys(s.strip() for s in (DEFAULT_SCOPES if scopes is None else scopes) if s.strip())
    )
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise InvalidInput({"scopes": f"unknown scope {unknown[0]!r}; choose from {', '.join(SCOPES)}"})
    if not chosen:
        raise InvalidInput({"scopes": f"choose at least one of {', '.join(SCOPES)}"})
    return [s for s in SCOPES if s in chosen]


def check_reset_period(value: str | None) -> str:
    clean = (value or "").strip().lower() or ResetPeriod.NONE.value
    if clean not in RESET_PERIODS:
        raise InvalidInput({"reset_period": f"one of {', '.join(RESET_PERIODS)}"})
    return clean


def check_limit(value: object) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return usd_to_micros(value)
    except ValueError as exc:
        raise InvalidInput({"limit_usd": str(exc)}) from exc


def check_metadata(value: object) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidInput({"metadata": 'a JSON object, e.g. {"env": "prod", "service": "api"}'}) from exc
    if not isinstance(value, dict):
        raise InvalidInput({"metadata": 'a JSON object, e.g. {"env": "prod", "service": "api"}'})
    if len(value) > METADATA_MAX_KEYS:
        raise InvalidInput({"metadata": f"at most {METADATA_MAX_KEYS} keys"})
    bad = [k for k in value if not isinstance(k, str) or not _METADATA_KEY.match(k)]
    if bad:
        raise InvalidInput({"metadata": f"key {bad[0]!r}: 1 to 64 letters, digits, '_', '.', ':' or '-'"})
    if len(json.dumps(value)) > METADATA_MAX_BYTES:
        raise InvalidInput({"metadata": f"at most {METADATA_MAX_BYTES} bytes of JSON"})
    return dict(value)


def check_expiry(expires_at: datetime | None, expires_in: str | None, now: datetime) -> datetime | None:
    if expires_in:
        try:
            delta = parse_duration(expires_in)
        except ValueError as exc:
            raise InvalidInput({"expires_in": str(exc)}) from exc
        if delta <= timedelta(0):
            raise InvalidInput({"expires_in": "must be more than 0"})
        return now + delta
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise InvalidInput({"expires_at": "give a time zone, e.g. 2027-01-31T00:00:00Z"})
    if expires_at <= now:
        raise InvalidInput({"expires_at": "must be in the future"})
    return expires_at


def check_grace(grace: str | timedelta) -> timedelta:
    if isinstance(grace, timedelta):
        delta = grace
    else:
        try:
            delta = parse_duration(grace)
        except ValueError as exc:
            raise InvalidInput({"grace": str(exc)}) from exc
    if delta < timedelta(0) or delta > MAX_GRACE:
        raise InvalidInput({"grace": "between 0 and 30d"})
    return delta


async def tenant_model_names(db: AsyncSession, tenant: Tenant) -> set[str]:
    rows = await db.scalars(
        select(Model.name)
        .join(Provider, Provider.id == Model.provider_id)
        .where((Provider.tenant_id.is_(None)) | (Provider.tenant_id == tenant.id))
    )
    return set(rows)


async def check_models(db: AsyncSession, tenant: Tenant, models: Iterable[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(m.strip() for m in (models or []) if m and m.strip()))
    if not chosen:
        return []
    known = await tenant_model_names(db, tenant)
    unknown = [m for m in chosen if m not in known]
    if unknown:
        raise InvalidInput({"allowed_models": f"no model named {unknown[0]!r} for this tenant"})
    return chosen


def parse_metadata_filter(items: Iterable[str]) -> dict[str, str]:
    """['env=prod', 'service:api'] -> {'env': 'prod', 'service': 'api'}."""
    wanted: dict[str, str] = {}
    for item in items:
        if not item or not item.strip():
            continue
        separator = "=" if "=" in item else ":"
        key, sep, value = item.partition(separator)
        if not sep or not key.strip():
            raise InvalidInput({"metadata": "filter as key=value, e.g. env=prod"})
        wanted[key.strip()] = value.strip()
    return wanted


def _metadata_matches(metadata: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    for key, value in wanted.items():
        have = metadata.get(key)
        if have is None:
            return False
        text = json.dumps(have) if isinstance(have, bool) else str(have)
        if text != value:
            return False
    return True


# ---------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class PlanView:
    name: str
    limit_micros: int
    reset_period: str
    edited: bool


async def list_plans(db: AsyncSession, tenant: Tenant) -> list[PlanView]:
    stored = {
        p.name: p for p in await db.scalars(select(ApiKeyPlan).where(ApiKeyPlan.tenant_id == tenant.id))
    }
    views = []
    for name, (limit, period) in DEFAULT_PLANS.items():
        row = stored.get(name)
        views.append(
            PlanView(name, row.limit_micros, row.reset_period, True)
            if row
            else PlanView(name, limit, period, False)
        )
    return views


async def save_plans(
    db: AsyncSession, actor: Actor, tenant: Tenant, plans: Mapping[str, tuple[object, str]]
) -> list[PlanView]:
    """Change the presets: {plan: (limit in USD, reset period)}."""
    errors: dict[str, str] = {}
    clean: dict[str, tuple[int, str]] = {}
    for name, (limit, period) in plans.items():
        if name not in DEFAULT_PLANS:
            errors[name] = f"unknown plan; plans are {', '.join(DEFAULT_PLANS)}"
            continue
        try:
            micros = usd_to_micros(limit)
        except ValueError as exc:
            errors[f"{name}_limit"] = str(exc)
            continue
        period = (period or "monthly").strip().lower()
        if period not in RESET_PERIODS:
            errors[f"{name}_reset"] = f"one of {', '.join(RESET_PERIODS)}"
            continue
        clean[name] = (micros, period)
    if errors:
        raise InvalidInput(errors)
    before = {p.name: p for p in await list_plans(db, tenant)}
    changed = {}
    for name, (micros, period) in clean.items():
        row = await db.get(ApiKeyPlan, (tenant.id, name))
        if row is None:
            db.add(ApiKeyPlan(tenant_id=tenant.id, name=name, limit_micros=micros, reset_period=period))
        else:
            row.limit_micros, row.reset_period = micros, period
        old = before[name]
        if (old.limit_micros, old.reset_period) != (micros, period):
            changed[name] = {"limit_usd": micros / 1e6, "reset_period": period}
    if changed:
        await audit.record(
            db,
            actor,
            "api_key_plans.updated",
            tenant_id=tenant.id,
            target=f"tenant:{tenant.slug}",
            details=changed,
        )
    await db.commit()
    return await list_plans(db, tenant)


# ---------------------------------------------------------------------------- queries


async def find_key(db: AsyncSession, key_id: str | uuid.UUID, tenant: Tenant | None = None) -> ApiKey:
    """The key by id, within the tenant when one is given; NotFound otherwise (never another tenant's)."""
    try:
        key_uuid = key_id if isinstance(key_id, uuid.UUID) else uuid.UUID(str(key_id).strip())
    except ValueError as exc:
        raise NotFound("API key not found") from exc
    query = select(ApiKey).where(ApiKey.id == key_uuid)
    if tenant is not None:
        query = query.where(ApiKey.tenant_id == tenant.id)
    key = await db.scalar(query)
    if key is None:
        raise NotFound("API key not found")
    return key


async def spend_by_lineage(
    db: AsyncSession, periods: Iterable[str], now: datetime, tenant_id: uuid.UUID | None = None
) -> dict[tuple[uuid.UUID, str], int]:
    """Spend in the current period of each reset period, per lineage: {(lineage, period): micros}."""
    spent: dict[tuple[uuid.UUID, str], int] = {}
    for period in set(periods):
        start, end = period_bounds(period, now)
        query = select(UsageEvent.lineage_id, func.sum(UsageEvent.cost_micros)).where(
            UsageEvent.occurred_at >= start
        )
        if end is not None:
            query = query.where(UsageEvent.occurred_at < end)
        if tenant_id is not None:
            query = query.where(UsageEvent.tenant_id == tenant_id)
        for lineage, total in (await db.execute(query.group_by(UsageEvent.lineage_id))).all():
            spent[(lineage, period)] = int(total or 0)
    return spent


async def views_of(
    db: AsyncSession, keys: list[ApiKey], now: datetime, tenant_id: uuid.UUID | None = None
) -> list[KeyView]:
    slugs = (
        dict(
            (
                await db.execute(
                    select(Tenant.id, Tenant.slug).where(Tenant.id.in_({k.tenant_id for k in keys}))
                )
            ).all()
        )
        if keys
        else {}
    )
    spent = await spend_by_lineage(db, {k.reset_period for k in keys}, now, tenant_id)
    views = []
    for key in keys:
        start, end = period_bounds(key.reset_period, now)
        views.append(
            KeyView(
                key=key,
                tenant_slug=slugs.get(key.tenant_id, "?"),
                state=key_state(key, now),
                spent_micros=spent.get((key.lineage_id, key.reset_period), 0),
                period_start=start,
                period_end=end,
            )
        )
    return views


async def view_of(db: AsyncSession, key: ApiKey, now: datetime) -> KeyView:
    return (await views_of(db, [key], now, key.tenant_id))[0]


async def list_keys(
    db: AsyncSession,
    tenant: Tenant | None,
    *,
    now: datetime,
    name: str = "",
    state: str = "",
    metadata: Mapping[str, str] | None = None,
) -> list[KeyView]:
    """Keys newest first, filtered by a name fragment, a state and metadata key=value pairs."""
    if state and state not in STATES:
        raise InvalidInput({"state": f"one of {', '.join(STATES)}"})
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.name)
    if tenant is not None:
        query = query.where(ApiKey.tenant_id == tenant.id)
    if name.strip():
        query = query.where(func.lower(ApiKey.name).contains(name.strip().lower(), autoescape=True))
    keys = list(await db.scalars(query))
    if metadata:
        keys = [k for k in keys if _metadata_matches(k.key_metadata, metadata)]
    if state:
        keys = [k for k in keys if key_state(k, now) == state]
    return await views_of(db, keys, now, tenant.id if tenant else None)


# ---------------------------------------------------------------------------- changes


def _key_details(key: ApiKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "prefix": key.prefix,
        "last_four": key.last_four,
        "scopes": key.scopes,
        "allowed_models": key.allowed_models,
        "limit_usd": None if key.limit_micros is None else key.limit_micros / 1e6,
        "reset_period": key.reset_period,
        "plan": key.plan,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "metadata": key.key_metadata,
        "disabled": key.disabled,
    }


async def _unique_commit(db: AsyncSession) -> None:
    try:
        await db.commit()
    except IntegrityError as exc:  # a hash collision among 2^256 values: practically never
        await db.rollback()
        raise Conflict("Could not store the key; try again") from exc


async def create_key(
    db: AsyncSession,
    settings: Settings,
    actor: Actor,
    tenant: Tenant,
    *,
    now: datetime | None = None,
    name: str,
    scopes: Iterable[str] | None = None,
    allowed_models: Iterable[str] | None = None,
    limit_usd: object = None,
    reset_period: str | None = None,
    plan: str | None = None,
    expires_at: datetime | None = None,
    expires_in: str | None = None,
    metadata: object = None,
    disabled: bool = False,
) -> tuple[ApiKey, str]:
    """A new key for the tenant; returns it and its secret, which is never stored nor shown again."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    plan_limit: int | None = None
    plan_period: str | None = None
    if plan:
        plans = {p.name: p for p in await list_plans(db, tenant)}
        chosen = plans.get(plan.strip().lower())
        if chosen is None:
            errors["plan"] = f"one of {', '.join(plans)}"
        else:
            plan, plan_limit, plan_period = chosen.name, chosen.limit_micros, chosen.reset_period
    for field_name, check in (
        ("name", lambda: check_name(name)),
        ("scopes", lambda: check_scopes(scopes)),
        ("limit_micros", lambda: check_limit(limit_usd)),
        ("reset_period", lambda: check_reset_period(reset_period or plan_period)),
        ("expires_at", lambda: check_expiry(expires_at, expires_in, now)),
        ("metadata", lambda: check_metadata(metadata)),
    ):
        try:
            values[field_name] = check()
        except InvalidInput as exc:
            errors.update(exc.errors)
    try:
        values["allowed_models"] = await check_models(db, tenant, allowed_models)
    except InvalidInput as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    if values["limit_micros"] is None:
        values["limit_micros"] = plan_limit
    if tenant.status != "active":
        raise Conflict(f"Tenant {tenant.slug} is suspended: reactivate it before issuing keys")
    issued = new_issued_key(tenant.slug, settings.api_key_secret)
    key_id = uuid.uuid4()
    key = ApiKey(
        id=key_id,
        tenant_id=tenant.id,
        name=values["name"],
        key_hash=issued.digest,
        prefix=issued.prefix,
        last_four=issued.last_four,
        scopes=values["scopes"],
        allowed_models=values["allowed_models"],
        limit_micros=values["limit_micros"],
        reset_period=values["reset_period"],
        plan=plan or None,
        expires_at=values["expires_at"],
        key_metadata=values["metadata"],
        disabled=bool(disabled),
        lineage_id=key_id,
        created_by=actor.label,
        created_at=now,
        updated_at=now,
    )
    db.add(key)
    await audit.record(
        db,
        actor,
        "api_key.created",
        tenant_id=tenant.id,
        target=f"api_key:{key.id}",
        details=_key_details(key),
    )
    await _unique_commit(db)
    return key, issued.secret


def _refuse_if_revoked(key: ApiKey) -> None:
    if key.revoked_at is not None:
        raise Conflict("This key is revoked: it can no longer be changed")


async def update_key(
    db: AsyncSession,
    actor: Actor,
    tenant: Tenant,
    key: ApiKey,
    changes: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> ApiKey:
    """Change any of name, scopes, allowed_models, limit_usd, reset_period, expires_at, metadata, disabled."""
    now = now or utcnow()
    _refuse_if_revoked(key)
    errors: dict[str, str] = {}
    new: dict[str, Any] = {}
    checks = {
        "name": check_name,
        "scopes": check_scopes,
        "limit_usd": check_limit,
        "reset_period": check_reset_period,
        "metadata": check_metadata,
    }
    for field_name, value in changes.items():
        try:
            if field_name in checks:
                new[field_name] = checks[field_name](value)
            elif field_name == "allowed_models":
                new[field_name] = await check_models(db, tenant, value)
            elif field_name == "expires_at":
                new[field_name] = None if value is None else check_expiry(value, None, now)
            elif field_name == "expires_in":
                new["expires_at"] = check_expiry(None, value, now) if value else None
            elif field_name == "disabled":
                new[field_name] = bool(value)
            else:
                errors[field_name] = "cannot be changed"
        except InvalidInput as exc:
            errors[field_name] = next(iter(exc.errors.values()), "invalid")
    if errors:
        raise InvalidInput(errors)
    attributes = {"limit_usd": "limit_micros", "metadata": "key_metadata"}
    diff: dict[str, dict[str, Any]] = {}
    for field_name, value in new.items():
        attribute = attributes.get(field_name, field_name)
        old = getattr(key, attribute)
        if old != value:
            setattr(key, attribute, value)
            label = "limit_usd" if attribute == "limit_micros" else field_name
            shown = (lambda v: None if v is None else v / 1e6) if attribute == "limit_micros" else _jsonable
            diff[label] = {"from": shown(old), "to": shown(value)}
    if not diff:
        return key
    key.updated_at = now
    action = "api_key.updated"
    if set(diff) == {"disabled"}:
        action = "api_key.disabled" if key.disabled else "api_key.enabled"
    await audit.record(db, actor, action, tenant_id=key.tenant_id, target=f"api_key:{key.id}", details=diff)
    await db.commit()
    return key


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def set_disabled(
    db: AsyncSession,
    actor: Actor,
    tenant: Tenant,
    key: ApiKey,
    disabled: bool,
    *,
    now: datetime | None = None,
) -> ApiKey:
    return await update_key(db, actor, tenant, key, {"disabled": disabled}, now=now)


async def increase_limit(
    db: AsyncSession, actor: Actor, key: ApiKey, amount_usd: object, *, now: datetime | None = None
) -> ApiKey:
    """Raise the spend limit by an amount (in USD)."""
    _refuse_if_revoked(key)
    try:
        amount = usd_to_micros(amount_usd)
    except ValueError as exc:
        raise InvalidInput({"amount_usd": str(exc)}) from exc
    # One atomic UPDATE: concurrent increases add up (a read-modify-write would lose some).
    raised = await db.scalar(
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.limit_micros.is_not(None), ApiKey.revoked_at.is_(None))
        .values(limit_micros=ApiKey.limit_micros + amount, updated_at=now or utcnow())
        .returning(ApiKey.limit_micros)
    )
    if raised is None:
        await db.rollback()
        raise Conflict("This key has no spend limit to increase; set one instead")
    set_committed_value(key, "limit_micros", raised)
    await audit.record(
        db,
        actor,
        "api_key.limit_increased",
        tenant_id=key.tenant_id,
        target=f"api_key:{key.id}",
        details={"from_usd": (raised - amount) / 1e6, "to_usd": raised / 1e6},
    )
    await db.commit()
    return key


async def revoke_key(
    db: AsyncSession, actor: Actor, key: ApiKey, *, now: datetime | None = None, reason: str = ""
) -> ApiKey:
    """Revoke at once; revoking a revoked key changes nothing."""
    if key.revoked_at is not None:
        return key
    now = now or utcnow()
    key.revoked_at = now
    key.revoked_by = actor.label
    key.updated_at = now
    details: dict[str, Any] = {"name": key.name, "prefix": key.prefix, "last_four": key.last_four}
    if reason:
        details["reason"] = reason
    await audit.record(
        db, actor, "api_key.revoked", tenant_id=key.tenant_id, target=f"api_key:{key.id}", details=details
    )
    await db.commit()
    return key


async def revoke_older_than(
    db: AsyncSession,
    actor: Actor,
    age: str | timedelta,
    *,
    tenant: Tenant | None = None,
    now: datetime | None = None,
) -> list[ApiKey]:
    """Revoke every unrevoked key created more than `age` ago (of one tenant, or of all)."""
    now = now or utcnow()
    if isinstance(age, str):
        try:
            age = parse_duration(age)
        except ValueError as exc:
            raise InvalidInput({"older_than": str(exc)}) from exc
    if age <= timedelta(0):
        raise InvalidInput({"older_than": "must be more than 0"})
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None), ApiKey.created_at < now - age)
    if tenant is not None:
        query = query.where(ApiKey.tenant_id == tenant.id)
    keys = list(await db.scalars(query.order_by(ApiKey.created_at)))
    reason = f"older than {format_duration(age)}"
    for key in keys:
        key.revoked_at = now
        key.revoked_by = actor.label
        key.updated_at = now
        await audit.record(
            db,
            actor,
            "api_key.revoked",
            tenant_id=key.tenant_id,
            target=f"api_key:{key.id}",
            details={"name": key.name, "prefix": key.prefix, "last_four": key.last_four, "reason": reason},
        )
    await db.commit()
    return keys


async def rotate_key(
    db: AsyncSession,
    settings: Settings,
    actor: Actor,
    tenant: Tenant,
    key: ApiKey,
    grace: str | timedelta,
    *,
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key in the old one's place. The old one works until the grace period ends, then stops.

    Both are linked (rotated_from / replaced_by) and share one budget (their lineage)."""
    now = now or utcnow()
    delta = check_grace(grace)
    _refuse_if_revoked(key)
    if key.replaced_by_id is not None:
        raise Conflict(ROTATED_ALREADY)
    state = key_state(key, now)
    if state == "expired":
        raise Conflict("This key has expired: create a new key instead")
    issued = new_issued_key(tenant.slug, settings.api_key_secret)
    lifetime = key.expires_at - key.created_at if key.expires_at else None
    new = ApiKey(
        id=uuid.uuid4(),
        tenant_id=key.tenant_id,
        name=key.name,
        key_hash=issued.digest,
        prefix=issued.prefix,
        last_four=issued.last_four,
        scopes=list(key.scopes),
        allowed_models=list(key.allowed_models),
        limit_micros=key.limit_micros,
        reset_period=key.reset_period,
        plan=key.plan,
        expires_at=now + lifetime if lifetime else None,
        key_metadata=dict(key.key_metadata),
        disabled=key.disabled,
        lineage_id=key.lineage_id,
        rotated_from_id=key.id,
        created_by=actor.label,
        created_at=now,
        updated_at=now,
    )
    db.add(new)
    try:  # a concurrent rotation of this key inserted its replacement first (unique rotated_from_id)
        await db.flush()
    except IntegrityError as exc:
        await db.rollback()
        raise Conflict(ROTATED_ALREADY) from exc
    # Only the rotation that finds the key unreplaced goes on (the row is re-read, not the copy).
    claimed = await db.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.replaced_by_id.is_(None))
        .values(replaced_by_id=new.id, grace_ends_at=now + delta, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        await db.rollback()
        raise Conflict(ROTATED_ALREADY)
    for name, value in (("replaced_by_id", new.id), ("grace_ends_at", now + delta), ("updated_at", now)):
        set_committed_value(key, name, value)
    await audit.record(
        db,
        actor,
        "api_key.rotated",
        tenant_id=key.tenant_id,
        target=f"api_key:{key.id}",
        details={
            "replaced_by": str(new.id),
            "grace": format_duration(delta),
            "grace_ends_at": key.grace_ends_at.isoformat(),
            "new_prefix": new.prefix,
            "new_last_four": new.last_four,
        },
    )
    await audit.record(
        db,
        actor,
        "api_key.created",
        tenant_id=key.tenant_id,
        target=f"api_key:{new.id}",
        details={**_key_details(new), "rotated_from": str(key.id)},
    )
    await _unique_commit(db)
    return new, issued.secret
