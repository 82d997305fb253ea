"""Starting and ending an impersonation: each is an audit event on the tenant's own record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.db.base import utcnow
from portal.errors import InvalidInput
from portal.tenants.services import find_tenant

IMPERSONATION_TTL = timedelta(minutes=60)
REASON_MAX = 500


@dataclass(frozen=True)
class Started:
    """An impersonation as recorded: which tenant, why, since and until when."""

    tenant_id: uuid.UUID
    slug: str
    tenant_name: str
    reason: str
    started_at: datetime
    expires_at: datetime


async def start_impersonation(db: AsyncSession, actor: Actor, *, tenant_ref: str, reason: str) -> Started:
    """Check the reason and the tenant, and record the start; the caller keeps it in the session."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            {"reason": "required: say why you act as this tenant's admin (a ticket, a request from them)"}
        )
    if len(reason) > REASON_MAX:
        raise InvalidInput({"reason": f"at most {REASON_MAX} characters"})
    if not (tenant_ref or "").strip():
        raise InvalidInput({"tenant_id": "required: the tenant's id or slug"})
    tenant = await find_tenant(db, tenant_ref.strip())
    now = utcnow()
    started = Started(tenant.id, tenant.slug, tenant.name, reason, now, now + IMPERSONATION_TTL)
    await audit.record(
        db,
        actor,
        "impersonation.started",
        tenant_id=tenant.id,
        target=f"tenant:{tenant.slug}",
        details={"reason": reason, "expires_at": started.expires_at.isoformat()},
    )
    await db.flush()
    return started


async def end_impersonation(
    db: AsyncSession,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    slug: str,
    reason: str,
    started_at: datetime,
    expired: bool = False,
) -> None:
    """Record the end: stopped by the admin, or expired after its hour."""
    now = utcnow()
    await audit.record(
        db,
        actor,
        "impersonation.expired" if expired else "impersonation.stopped",
        tenant_id=tenant_id,
        target=f"tenant:{slug}",
        details={
            "reason": reason,
            "started_at": started_at.isoformat(),
            "minutes": round((now - started_at).total_seconds() / 60, 1),
        },
    )
    await db.flush()
