"""Reading (and, for attacks, writing) rows directly, where a test checks what was stored."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Litestar
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.models import AuditEvent, Credential, Identity, Membership, Tenant, UsageEvent, User


async def tenant_row(app: Litestar, tenant_id: str) -> Tenant:
    async with app.state.portal.sessions() as db:
        tenant = await db.get(Tenant, uuid.UUID(tenant_id))
        assert tenant is not None
        return tenant


async def credential_rows(app: Litestar, tenant_id: str) -> list[Credential]:
    async with app.state.portal.sessions() as db:
        return list(await db.scalars(select(Credential).where(Credential.tenant_id == uuid.UUID(tenant_id))))


async def set_sealed_fields(app: Litestar, credential_id: uuid.UUID, sealed: dict[str, str]) -> None:
    async with app.state.portal.sessions() as db:
        await db.execute(
            update(Credential).where(Credential.id == credential_id).values(sealed_fields=sealed)
        )
        await db.commit()


async def audit_rows(app: Litestar, tenant_id: str | None = None, **where: Any) -> list[AuditEvent]:
    async with app.state.portal.sessions() as db:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if tenant_id is not None:
            query = query.where(AuditEvent.tenant_id == uuid.UUID(tenant_id))
        for column, value in where.items():
            query = query.where(getattr(AuditEvent, column) == value)
        return list(await db.scalars(query))


async def audit_actions(app: Litestar, tenant_id: str, prefix: str) -> list[str]:
    """The actions recorded for a tenant, oldest first, of those starting with `prefix`."""
    return [e.action for e in await audit_rows(app, tenant_id) if e.action.startswith(prefix)]


async def usage_of_key(app: Litestar, key_id: str) -> tuple[int, int | None]:
    """How many usage events an API key has, and their total cost in micro-USD."""
    async with app.state.portal.sessions() as db:
        count, total = (
            await db.execute(
                select(func.count(), func.sum(UsageEvent.cost_micros)).where(
                    UsageEvent.api_key_id == uuid.UUID(key_id)
                )
            )
        ).one()
    return count, total


async def remove_audit_event(sessions: async_sessionmaker[AsyncSession], event_id: int) -> None:
    """What a tamperer with write access does: deletes one audit event outright."""
    async with sessions() as db:
        await db.execute(delete(AuditEvent).where(AuditEvent.id == event_id))
        await db.commit()


async def user_by_email(app: Litestar, email: str) -> User | None:
    async with app.state.portal.sessions() as db:
        return await db.scalar(select(User).where(User.email == email))


async def membership_role(app: Litestar, email: str, tenant_id: str) -> str | None:
    async with app.state.portal.sessions() as db:
        return await db.scalar(
            select(Membership.role)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email, Membership.tenant_id == uuid.UUID(tenant_id))
        )


async def identities_of(app: Litestar, email: str) -> list[tuple[str, str]]:
    async with app.state.portal.sessions() as db:
        rows = await db.execute(
            select(Identity.issuer, Identity.subject)
            .join(User, User.id == Identity.user_id)
            .where(User.email == email)
        )
        return [(r.issuer, r.subject) for r in rows]
