"""Master-key rotation: re-wrap every tenant's data key under the primary ENCRYPTION_KEY.

Work grows with tenants, not secrets. Batches commit one by one, so an interrupted run
keeps what it did and the next run picks up the tenants still wrapped by an older key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.crypto.keyring import KeyUnavailable, MasterKeyring
from portal.db.models import Tenant

DESTROYED = "destroyed"


@dataclass
class RotationReport:
    to_rotate: int = 0
    rotated: int = 0
    failed: list[str] = field(default_factory=list)  # slugs whose key opens with no configured key
    verified: int = 0
    not_opening: list[str] = field(default_factory=list)  # slugs that do not open with the primary

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_opening


def _pending(primary_id: str):  # type: ignore[no-untyped-def]
    return (Tenant.data_key_wrapped_by != primary_id) & (Tenant.data_key_wrapped_by != DESTROYED)


async def count_pending(db: AsyncSession, keyring: MasterKeyring) -> int:
    return await db.scalar(select(func.count()).where(_pending(keyring.primary_id))) or 0


async def rotate_master_key(
    sessions: async_sessionmaker[AsyncSession],
    keyring: MasterKeyring,
    actor: Actor,
    *,
    batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> RotationReport:
    report = RotationReport()
    async with sessions() as db:
        report.to_rotate = await count_pending(db, keyring)
    after: uuid.UUID | None = None
    while True:
        async with sessions() as db:
            query = select(Tenant.id, Tenant.slug, Tenant.wrapped_data_key).where(
                _pending(keyring.primary_id)
            )
            if after is not None:
                query = query.where(Tenant.id > after)
            rows = (await db.execute(query.order_by(Tenant.id).limit(batch_size))).all()
            if not rows:
                break
            after = rows[-1].id
            updates = []
            for row in rows:
                try:
                    updates.append({"tid": row.id, "wrapped": keyring.rewrap(row.wrapped_data_key)})
                except KeyUnavailable:
                    report.failed.append(row.slug)
            if updates:
                table = Tenant.__table__
                await db.execute(
                    update(table)
                    .where(table.c.id == bindparam("tid"))
                    .values(wrapped_data_key=bindparam("wrapped"), data_key_wrapped_by=keyring.primary_id),
                    updates,
                )
            await db.commit()
            report.rotated += len(updates)
            if on_batch:
                on_batch(len(rows))
    await verify_primary(sessions, keyring, report, batch_size=batch_size * 4)
    async with sessions() as db:
        await audit.record(
            db,
            actor,
            "master_key.rotated",
            outcome="success" if report.ok else "failure",
            target=f"master-key:{keyring.primary_id}",
            details={
                "rotated": report.rotated,
                "verified": report.verified,
                "failed": report.failed[:50],
                "not_opening": report.not_opening[:50],
            },
        )
        await db.commit()
    return report


async def verify_primary(
    sessions: async_sessionmaker[AsyncSession],
    keyring: MasterKeyring,
    report: RotationReport,
    *,
    batch_size: int,
) -> None:
    """Every live tenant's data key must open with the primary key alone."""
    after: uuid.UUID | None = None
    while True:
        async with sessions() as db:
            query = select(Tenant.id, Tenant.slug, Tenant.wrapped_data_key).where(
                Tenant.data_key_wrapped_by != DESTROYED
            )
            if after is not None:
                query = query.where(Tenant.id > after)
            rows = (await db.execute(query.order_by(Tenant.id).limit(batch_size))).all()
        if not rows:
            return
        after = rows[-1].id
        for row in rows:
            try:
                keyring.unwrap_with_primary(row.wrapped_data_key)
                report.verified += 1
            except KeyUnavailable:
                report.not_opening.append(row.slug)
