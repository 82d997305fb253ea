"""Commands on issued API keys: create, change, disable/enable, raise the limit, rotate, revoke.

Each change is validated before anything is written, audited in the caller's transaction, and only
flushed: the request or the command that called it commits (portal.db.session). One builder makes
every `ApiKey` row (`_new_key`: created and rotated keys alike) and one path revokes (`_revoke`).
The input is checked into `KeyTerms` first (portal.apikeys.terms).
The same functions serve the pages, the JSON API and the command line; `now` is passed in by the
caller (the app's clock), so the rules can be tested at any moment without sleeping.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from portal.apikeys.money import micros_to_usd
from portal.apikeys.periods import format_duration
from portal.apikeys.rules import KeyState, check_age, check_amount, check_grace, key_state
from portal.apikeys.terms import KeyTerms, check_changes, check_new_terms
from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.config import Settings
from portal.crypto.issued_keys import new_issued_key
from portal.db.base import utcnow
from portal.db.models import ApiKey, Tenant
from portal.errors import Conflict

ROTATED_ALREADY = "This key was rotated already: rotate its replacement instead"


def _details(key: ApiKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "prefix": key.prefix,
        "last_four": key.last_four,
        "scopes": key.scopes,
        "allowed_models": key.allowed_models,
        "limit_usd": micros_to_usd(key.limit_micros),
        "reset_period": key.reset_period,
        "plan": key.plan,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "metadata": key.key_metadata,
        "disabled": key.disabled,
        "rpm_limit": key.rpm_limit,
        "tpm_limit": key.tpm_limit,
    }


def _new_key(
    settings: Settings,
    actor: Actor,
    tenant: Tenant,
    terms: KeyTerms,
    now: datetime,
    replaces: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """The one builder of `ApiKey` rows: a fresh secret, the given terms, and its lineage (its own,
    or that of the key it replaces). Returns the row and the secret."""
    issued = new_issued_key(tenant.slug, settings.api_key_secret)
    key_id = uuid.uuid4()
    key = ApiKey(
        id=key_id,
        tenant_id=tenant.id,
        key_hash=issued.digest,
        prefix=issued.prefix,
        last_four=issued.last_four,
        **terms.columns(),
        lineage_id=replaces.lineage_id if replaces else key_id,
        rotated_from_id=replaces.id if replaces else None,
        created_by=actor.label,
        created_at=now,
        updated_at=now,
    )
    return key, issued.secret


class _Lost(Exception):
    """Another transaction claimed the row first."""


async def _store(db: AsyncSession, key: ApiKey, refusal: str, claim: Any = None) -> None:
    """Insert the key (and run `claim`, an UPDATE … RETURNING that must match a row) in a savepoint:
    a clash undoes both and leaves the caller's transaction usable; the caller gets a Conflict."""
    try:
        async with db.begin_nested():
            db.add(key)
            await db.flush()
            if claim is not None and await db.scalar(claim) is None:
                raise _Lost
    except (IntegrityError, _Lost) as exc:
        raise Conflict(refusal) from exc


async def _record(db: AsyncSession, actor: Actor, action: str, key: ApiKey, details: dict[str, Any]) -> None:
    """Every key event: on the key's tenant's record, aimed at the key."""
    await audit.record(
        db, actor, action, tenant_id=key.tenant_id, target=f"api_key:{key.id}", details=details
    )


async def _audit_created(db: AsyncSession, actor: Actor, key: ApiKey, **extra: str) -> None:
    await _record(db, actor, "api_key.created", key, _details(key) | extra)


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
    rpm_limit: object = None,
    tpm_limit: object = None,
) -> tuple[ApiKey, str]:
    """A new key for the tenant; returns it and its secret, which is never stored nor shown again."""
    now = now or utcnow()
    terms = await check_new_terms(
        db,
        tenant,
        now,
        name=name,
        scopes=scopes,
        allowed_models=allowed_models,
        limit_usd=limit_usd,
        reset_period=reset_period,
        plan=plan,
        expires_at=expires_at,
        expires_in=expires_in,
        metadata=metadata,
        disabled=disabled,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
    )
    if tenant.status != "active":
        raise Conflict(f"Tenant {tenant.slug} is suspended: reactivate it before issuing keys")
    key, secret = _new_key(settings, actor, tenant, terms, now)
    # A hash collision among 2^256 values: practically never.
    await _store(db, key, "Could not store the key; try again")
    await _audit_created(db, actor, key)
    await db.flush()
    return key, secret


def _refuse_if_revoked(key: ApiKey) -> None:
    if key.revoked_at is not None:
        raise Conflict("This key is revoked: it can no longer be changed")


_ATTRIBUTES = {"limit_usd": "limit_micros", "metadata": "key_metadata"}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def update_key(
    db: AsyncSession,
    actor: Actor,
    tenant: Tenant,
    key: ApiKey,
    changes: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> ApiKey:
    """Change any of name, scopes, allowed_models, limit_usd, reset_period, expires_at, metadata,
    disabled, rpm_limit, tpm_limit."""
    now = now or utcnow()
    _refuse_if_revoked(key)
    new = await check_changes(db, tenant, changes, now)
    diff: dict[str, dict[str, Any]] = {}
    for field_name, value in new.items():
        attribute = _ATTRIBUTES.get(field_name, field_name)
        old = getattr(key, attribute)
        if old != value:
            setattr(key, attribute, value)
            shown = micros_to_usd if attribute == "limit_micros" else _jsonable
            diff[field_name] = {"from": shown(old), "to": shown(value)}
    if not diff:
        return key
    key.updated_at = now
    action = "api_key.updated"
    if set(diff) == {"disabled"}:
        action = "api_key.disabled" if key.disabled else "api_key.enabled"
    await _record(db, actor, action, key, diff)
    await db.flush()
    return key


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
    amount = check_amount(amount_usd, "amount_usd")
    # One atomic UPDATE: concurrent increases add up (a read-modify-write would lose some).
    raised = await db.scalar(
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.limit_micros.is_not(None), ApiKey.revoked_at.is_(None))
        .values(limit_micros=ApiKey.limit_micros + amount, updated_at=now or utcnow())
        .returning(ApiKey.limit_micros)
    )
    if raised is None:
        raise Conflict("This key has no spend limit to increase; set one instead")
    set_committed_value(key, "limit_micros", raised)
    changed = {"from_usd": micros_to_usd(raised - amount), "to_usd": micros_to_usd(raised)}
    await _record(db, actor, "api_key.limit_increased", key, changed)
    await db.flush()
    return key


async def _revoke(db: AsyncSession, actor: Actor, key: ApiKey, now: datetime, reason: str = "") -> None:
    """The one revocation: stamped, attributed, audited."""
    key.revoked_at = now
    key.revoked_by = actor.label
    key.updated_at = now
    details: dict[str, Any] = {"name": key.name, "prefix": key.prefix, "last_four": key.last_four}
    if reason:
        details["reason"] = reason
    await _record(db, actor, "api_key.revoked", key, details)


async def revoke_key(
    db: AsyncSession, actor: Actor, key: ApiKey, *, now: datetime | None = None, reason: str = ""
) -> ApiKey:
    """Revoke at once; revoking a revoked key changes nothing."""
    if key.revoked_at is None:
        await _revoke(db, actor, key, now or utcnow(), reason)
        await db.flush()
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
    age = check_age(age)
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None), ApiKey.created_at < now - age)
    if tenant is not None:
        query = query.where(ApiKey.tenant_id == tenant.id)
    keys = list(await db.scalars(query.order_by(ApiKey.created_at)))
    for key in keys:
        await _revoke(db, actor, key, now, f"older than {format_duration(age)}")
    await db.flush()
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
    if key_state(key, now) == KeyState.EXPIRED:
        raise Conflict("This key has expired: create a new key instead")
    lifetime = key.expires_at - key.created_at if key.expires_at else None
    terms = replace(KeyTerms.of_key(key), expires_at=now + lifetime if lifetime else None)
    new, secret = _new_key(settings, actor, tenant, terms, now, replaces=key)
    # A concurrent rotation of this key inserted its replacement first (unique rotated_from_id), or
    # claimed the key first: only the rotation that finds it unreplaced goes on (the row is re-read).
    claim = (
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.replaced_by_id.is_(None))
        .values(replaced_by_id=new.id, grace_ends_at=now + delta, updated_at=now)
        .returning(ApiKey.id)
        .execution_options(synchronize_session=False)
    )
    await _store(db, new, ROTATED_ALREADY, claim)
    for name, value in (("replaced_by_id", new.id), ("grace_ends_at", now + delta), ("updated_at", now)):
        set_committed_value(key, name, value)
    rotated = {
        "replaced_by": str(new.id),
        "grace": format_duration(delta),
        "grace_ends_at": (now + delta).isoformat(),
        "new_prefix": new.prefix,
        "new_last_four": new.last_four,
    }
    await _record(db, actor, "api_key.rotated", key, rotated)
    await _audit_created(db, actor, new, rotated_from=str(key.id))
    await db.flush()
    return new, secret
