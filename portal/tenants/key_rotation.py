"""Master-key rotation: re-wrap every tenant's data key under the primary ENCRYPTION_KEY, and the
few platform-level secrets the keyring wraps directly (platform admins' TOTP seeds).

Work grows with tenants and platform admins, not secrets. Batches commit one by one, so an interrupted run
keeps what it did and the next run picks up the tenants still wrapped by an older key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.crypto.keyring import KeyUnavailable, MasterKeyring
from portal.db.models import Tenant, User
from portal.tenants.services import DESTROYED


@dataclass
class RotationReport:
    to_rotate: int = 0
    rotated: int = 0
    failed: list[str] = field(default_factory=list)  # slugs whose key opens with no configured key
    verified: int = 0
    not_opening: list[str] = field(default_factory=list)  # slugs that do not open with the primary
    changed_meanwhile: int = 0  # deleted, or re-wrapped by another run, between read and write

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_opening


def _pending(primary_id: str):
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
            rows = await read_batch(db, keyring, after, batch_size)
            if not rows:
                break
            after = rows[-1].id
            await write_batch(db, keyring, rows, report)
            await db.commit()
            if on_batch:
                on_batch(len(rows))
    await rotate_platform_secrets(sessions, keyring, report)
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


async def read_batch(
    db: AsyncSession, keyring: MasterKeyring, after: uuid.UUID | None, size: int
) -> list[Any]:
    query = select(Tenant.id, Tenant.slug, Tenant.wrapped_data_key).where(_pending(keyring.primary_id))
    if after is not None:
        query = query.where(Tenant.id > after)
    return list((await db.execute(query.order_by(Tenant.id).limit(size))).all())


async def write_batch(
    db: AsyncSession, keyring: MasterKeyring, rows: list[Any], report: RotationReport
) -> None:
    """Each data key re-wrapped by compare-and-swap: only where the row still holds the wrapped key
    that was read. A tenant deleted (or its key destroyed) meanwhile is left as it is now."""
    for row in rows:
        try:
            rewrapped = keyring.rewrap(row.wrapped_data_key)
        except KeyUnavailable:
            report.failed.append(row.slug)
            continue
        swapped = await db.execute(
            update(Tenant)
            .where(Tenant.id == row.id, Tenant.wrapped_data_key == row.wrapped_data_key)
            .values(wrapped_data_key=rewrapped, data_key_wrapped_by=keyring.primary_id)
            .execution_options(synchronize_session=False)
        )
        if swapped.rowcount:  # type: ignore[attr-defined]
            report.rotated += 1
        else:
            report.changed_meanwhile += 1


async def rotate_platform_secrets(
    sessions: async_sessionmaker[AsyncSession], keyring: MasterKeyring, report: RotationReport
) -> None:
    """Re-wrap each platform admin's TOTP seed (compare-and-swap, one transaction: there are few),
    then check each opens with the primary key alone. A failure is named `user:<e-mail>`."""
    async with sessions() as db:
        query = select(User.id, User.email, User.totp_secret_wrapped).where(
            User.totp_secret_wrapped.is_not(None)
        )
        for row in (await db.execute(query)).all():
            try:
                rewrapped = keyring.rewrap(row.totp_secret_wrapped)
            except KeyUnavailable:
                report.failed.append(f"user:{row.email}")
                continue
            await db.execute(
                update(User)
                .where(User.id == row.id, User.totp_secret_wrapped == row.totp_secret_wrapped)
                .values(totp_secret_wrapped=rewrapped)
                .execution_options(synchronize_session=False)
            )
        await db.commit()
        for row in (await db.execute(query)).all():
            try:
                keyring.unwrap_with_primary(row.totp_secret_wrapped)
            except KeyUnavailable:
                report.not_opening.append(f"user:{row.email}")


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
