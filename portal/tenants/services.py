"""Tenants: create, find, change, suspend, delete."""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.apikeys.money import micros_to_usd, usd_to_micros
from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.crypto.vault import Vault
from portal.db.engine import shred_wal
from portal.db.models import Model, Provider, Tenant, TenantModel
from portal.db.models.tenants import SLUG_PATTERN, TenantStatus
from portal.db.paging import Page, contains_any, paginate, starts_with
from portal.errors import Conflict, Forbidden, InvalidInput, found
from portal.tenant_refs import UUID_SLUG_PROBLEM, as_tenant_id, looks_like_uuid

NAME_MAX = 200
# What a destroyed data key is replaced with (master-key rotation leaves such rows alone).
DESTROYED = "destroyed"
log = logging.getLogger(__name__)


def normalise_slug(raw: str) -> str:
    return raw.strip().lower()


SLUG_BASE_MAX = 55  # leaves room for a "-NNN" suffix within the 63 characters


def slug_base(name: str) -> str:
    """A slug's stem from a display name: "Malmö Stad AB" -> "malmo-stad-ab"; never UUID-shaped."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:SLUG_BASE_MAX].strip("-")
    if len(base) < 2 or looks_like_uuid(base):
        base = f"tenant-{base}".strip("-")[:SLUG_BASE_MAX].strip("-")
    return base


async def derived_slug(db: AsyncSession, name: str) -> str:
    """A free slug derived from `name`: acme-corp, else acme-corp-2, acme-corp-3…"""
    base = slug_base(name)
    taken = set(await db.scalars(select(Tenant.slug).where(starts_with(Tenant.slug, base))))
    candidate, n = base, 1
    while candidate in taken or looks_like_uuid(candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def validate_tenant_fields(
    name: str | None, slug: str | None, status: str | None, *, creating: bool
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if name is not None or creating:
        clean = (name or "").strip()
        if not clean:
            errors["name"] = "required: the organisation's display name"
        elif len(clean) > NAME_MAX:
            errors["name"] = f"at most {NAME_MAX} characters"
    if (slug is not None or creating) and not re.fullmatch(SLUG_PATTERN, normalise_slug(slug or "")):
        errors["slug"] = (
            "2 to 63 characters: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit (e.g. acme-corp)"
        )
    elif slug is not None and looks_like_uuid(slug):
        errors["slug"] = UUID_SLUG_PROBLEM
    if status is not None and status not in {s.value for s in TenantStatus}:
        errors["status"] = "must be 'active' or 'suspended'"
    return errors


def _named_by(ref: str):
    """The condition for the tenant a reference names (see portal.tenant_refs: a UUID is an id)."""
    tenant_id = as_tenant_id(ref)
    return Tenant.id == tenant_id if tenant_id else Tenant.slug == normalise_slug(ref)


async def find_tenant(db: AsyncSession, ref: str) -> Tenant:
    """The tenant by UUID or slug, or NotFound."""
    return found(await db.scalar(select(Tenant).where(_named_by(ref))), "Tenant")


async def resolve_tenant_id(db: AsyncSession, ref: str) -> uuid.UUID | None:
    """The id of the tenant a reference names, or None: what guards decide on."""
    return await db.scalar(select(Tenant.id).where(_named_by(ref)))


async def list_tenants(
    db: AsyncSession, *, q: str = "", status: str | None = None, page: int = 1, per_page: int = 25
) -> Page[Tenant]:
    query = select(Tenant)
    if q.strip():
        query = query.where(contains_any(q, Tenant.slug, Tenant.name))
    if status:
        query = query.where(Tenant.status == status)
    return await paginate(db, query, page=page, per_page=per_page, order_by=(Tenant.name, Tenant.slug))


async def create_tenant(
    db: AsyncSession,
    vault: Vault,
    actor: Actor,
    *,
    name: str,
    slug: str | None,
    status: str = "active",
    slug_from: str | None = None,
) -> Tenant:
    """A new tenant with its own data key, and the built-in models enabled for it.

    Without a slug, one is derived from `slug_from` (else the name) and made unique (acme-corp-2…).
    """
    if slug is None and (source := (slug_from or name or "").strip()):
        slug = await derived_slug(db, source)
    errors = validate_tenant_fields(name, slug, status, creating=True)
    if errors:
        raise InvalidInput(errors)
    slug = normalise_slug(slug or "")
    if await db.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise Conflict(f"The slug '{slug}' is taken; choose another")
    wrapped, wrapped_by = vault.new_wrapped_data_key()
    tenant = Tenant(
        id=uuid.uuid4(),
        slug=slug,
        name=name.strip(),
        status=status,
        wrapped_data_key=wrapped,
        data_key_wrapped_by=wrapped_by,
    )
    db.add(tenant)
    try:  # a concurrent request may have taken the slug since the check above
        await db.flush()
    except IntegrityError as exc:
        raise Conflict(f"The slug '{slug}' is taken; choose another") from exc
    await _enable_builtin_models(db, tenant.id)
    await audit.record(
        db,
        actor,
        "tenant.created",
        tenant_id=tenant.id,
        target=f"tenant:{slug}",
        details={"name": tenant.name, "status": status},
    )
    return tenant


async def _enable_builtin_models(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    model_ids = await db.scalars(select(Model.id).join(Provider).where(Provider.tenant_id.is_(None)))
    rows = [{"tenant_id": tenant_id, "model_id": model_id} for model_id in model_ids]
    if rows:
        await db.execute(insert(TenantModel), rows)


async def update_tenant(
    db: AsyncSession,
    actor: Actor,
    ref: str,
    *,
    name: str | None = None,
    slug: str | None = None,
    status: str | None = None,
) -> Tenant:
    tenant = await find_tenant(db, ref)
    errors = validate_tenant_fields(name, slug, status, creating=False)
    if errors:
        raise InvalidInput(errors)
    changes: dict[str, tuple[str, str]] = {}
    if name is not None and name.strip() != tenant.name:
        changes["name"] = (tenant.name, name.strip())
    if slug is not None and normalise_slug(slug) != tenant.slug:
        new_slug = normalise_slug(slug)
        if await db.scalar(select(Tenant.id).where(Tenant.slug == new_slug)):
            raise Conflict(f"The slug '{new_slug}' is taken; choose another")
        changes["slug"] = (tenant.slug, new_slug)
    if status is not None and status != tenant.status:
        changes["status"] = (tenant.status, status)
    if not changes:
        return tenant
    for field_name, (_old, new) in changes.items():
        setattr(tenant, field_name, new)
    try:  # a concurrent rename may have taken the slug since the check above
        await db.flush()
    except IntegrityError as exc:
        raise Conflict("The slug is taken; choose another") from exc
    action = "tenant.updated"
    if set(changes) == {"status"}:
        action = "tenant.suspended" if status == "suspended" else "tenant.reactivated"
    await audit.record(
        db,
        actor,
        action,
        tenant_id=tenant.id,
        target=f"tenant:{tenant.slug}",
        details={k: {"from": old, "to": new} for k, (old, new) in changes.items()},
    )
    return tenant


NO_LIMIT = frozenset({"", "none", "no limit", "unlimited"})
LIMIT_FIELD = "monthly_limit_usd"


def check_monthly_limit(value: object) -> int | None:
    """A tenant's monthly limit in micro-USD from a dollar amount; None (or 'none', empty) for none."""
    if value is None or (isinstance(value, str) and value.strip().lower() in NO_LIMIT):
        return None
    try:
        return usd_to_micros(value)
    except ValueError as exc:
        raise InvalidInput({LIMIT_FIELD: f"{exc}, or none"}) from exc


async def set_monthly_limit(db: AsyncSession, actor: Actor, tenant: Tenant, limit_usd: object) -> Tenant:
    """The spend limit of the whole tenant per calendar month (UTC), beside each key's own: set by a
    platform admin only. Audited; the audit event reloads the tenant in every gateway process."""
    if not actor.is_platform_admin:
        raise Forbidden("Only a platform admin sets a tenant's monthly limit")
    new = check_monthly_limit(limit_usd)
    old = tenant.monthly_limit_micros
    if new == old:
        return tenant
    tenant.monthly_limit_micros = new
    await audit.record(
        db,
        actor,
        "tenant.limit_changed",
        tenant_id=tenant.id,
        target=f"tenant:{tenant.slug}",
        details={LIMIT_FIELD: {"from": micros_to_usd(old), "to": micros_to_usd(new)}},
    )
    await db.flush()
    return tenant


async def delete_tenant(db: AsyncSession, actor: Actor, ref: str) -> uuid.UUID:
    """Destroy the tenant's data key and delete its rows (cascading to its secrets), audited, in the
    caller's one transaction. Once that has committed, `shred_deleted` empties SQLite's WAL.
    Returns the deleted tenant's id."""
    tenant = await find_tenant(db, ref)
    tenant_id, slug, name = tenant.id, tenant.slug, tenant.name
    await db.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(wrapped_data_key=DESTROYED, data_key_wrapped_by=DESTROYED)
    )
    await db.execute(delete(Tenant).where(Tenant.id == tenant_id))
    await audit.record(
        db, actor, "tenant.deleted", tenant_id=tenant_id, target=f"tenant:{slug}", details={"name": name}
    )
    return tenant_id


async def shred_deleted(engine: AsyncEngine, tenant_id: uuid.UUID) -> None:
    """After a deletion committed: on SQLite the freed pages were zeroed (secure_delete); now the WAL,
    which still holds their older images, is checkpointed and emptied (see shred_wal)."""
    if not await shred_wal(engine):
        log.warning(
            "tenant %s deleted, but a long reader kept the SQLite WAL busy: its older page images "
            "stay until the next checkpoint",
            tenant_id,
        )
