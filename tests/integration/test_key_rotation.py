"""Master-key rotation on its own database: interrupted, run again, every secret intact."""

from __future__ import annotations

import pyotp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from portal.audit.actor import Actor
from portal.catalog.services import sync_builtin_catalog
from portal.credentials.services import list_credentials, open_credential
from portal.crypto.keyring import MasterKeyring
from portal.crypto.vault import Vault
from portal.db.models import AuditEvent, Credential, Tenant, User
from portal.db.session import unit_of_work
from portal.tenants.key_rotation import rotate_master_key
from portal.tenants.services import create_tenant, delete_tenant
from tests.support.factories import Factory

ACTOR = Actor.system("test")


class Interrupted(Exception):
    pass


async def seed(sessions, settings, vault: Vault, tenants: int) -> dict[str, str]:
    secrets = {}
    make = Factory(sessions, vault, settings, ACTOR)
    async with make.work() as db:
        await sync_builtin_catalog(db)
    for number in range(tenants):
        tenant = await make.tenant(f"T{number}", slug=f"rot-{number:03d}")
        secrets[tenant.slug] = f"sk-rotation-secret-{number:04d}-abcdef"
        await make.credential(tenant, "openai", {"api_key": secrets[tenant.slug]})
    return secrets


async def test_interrupted_rotation_resumes_and_keeps_every_secret(fresh_database):
    settings, sessions = fresh_database
    old_key, new_key = settings.encryption_key, Fernet.generate_key().decode()
    secrets = await seed(sessions, settings, Vault(MasterKeyring(old_key)), tenants=7)
    async with unit_of_work(sessions) as db:
        doomed = await create_tenant(db, Vault(MasterKeyring(old_key)), ACTOR, name="Gone", slug="rot-gone")
        await delete_tenant(db, ACTOR, str(doomed.id))

    ring = MasterKeyring(new_key, (old_key,))
    batches = []

    def stop_after_first_batch(size: int) -> None:
        batches.append(size)
        raise Interrupted

    with pytest.raises(Interrupted):
        await rotate_master_key(sessions, ring, ACTOR, batch_size=3, on_batch=stop_after_first_batch)
    async with unit_of_work(sessions) as db:
        wrapped_by = list(await db.scalars(select(Tenant.data_key_wrapped_by)))
    assert wrapped_by.count(ring.primary_id) == 3, "the first batch was committed before the interruption"

    report = await rotate_master_key(sessions, ring, ACTOR, batch_size=3)
    assert report.ok
    assert report.to_rotate == 4 and report.rotated == 4
    assert report.verified == 7

    only_new = Vault(MasterKeyring(new_key))
    async with unit_of_work(sessions) as db:
        for tenant in await db.scalars(select(Tenant)):
            credential = await db.scalar(select(Credential).where(Credential.tenant_id == tenant.id))
            assert open_credential(only_new, tenant, credential) == {"api_key": secrets[tenant.slug]}
            views = await list_credentials(db, only_new, tenant)
            assert all(v.encryption_status == "encrypted" for v in views)
        events = list(await db.scalars(select(AuditEvent).where(AuditEvent.action == "master_key.rotated")))
    assert events and events[-1].outcome == "success"
    assert old_key not in str(events[-1].details) and new_key not in str(events[-1].details)


async def test_rotation_reports_a_tenant_no_key_opens(fresh_database):
    settings, sessions = fresh_database
    lost_key = Fernet.generate_key().decode()
    await seed(sessions, settings, Vault(MasterKeyring(lost_key)), tenants=2)
    ring = MasterKeyring(Fernet.generate_key().decode(), (settings.encryption_key,))
    report = await rotate_master_key(sessions, ring, ACTOR, batch_size=10)
    assert not report.ok
    assert sorted(report.failed) == ["rot-000", "rot-001"]
    assert sorted(report.not_opening) == ["rot-000", "rot-001"]


async def test_rotation_never_overwrites_a_key_destroyed_between_its_read_and_its_write(fresh_database):
    """A tenant deleted, and another whose key was destroyed, after the batch was read: the write
    leaves both as they are now (compare-and-swap on the wrapped key that was read)."""
    from sqlalchemy import update

    from portal.tenants.key_rotation import RotationReport, read_batch, write_batch

    settings, sessions = fresh_database
    old_key, new_key = settings.encryption_key, Fernet.generate_key().decode()
    await seed(sessions, settings, Vault(MasterKeyring(old_key)), tenants=3)
    ring = MasterKeyring(new_key, (old_key,))
    async with unit_of_work(sessions) as db:
        rows = await read_batch(db, ring, None, 10)
    assert len(rows) == 3
    deleted, destroyed, kept = rows
    async with unit_of_work(sessions) as db:  # meanwhile, in other transactions
        await delete_tenant(db, ACTOR, str(deleted.id))
    async with unit_of_work(sessions) as db:
        await db.execute(
            update(Tenant)
            .where(Tenant.id == destroyed.id)
            .values(wrapped_data_key="destroyed", data_key_wrapped_by="destroyed")
        )
        await db.commit()
    report = RotationReport()
    async with unit_of_work(sessions) as db:
        await write_batch(db, ring, rows, report)
        await db.commit()
    assert report.rotated == 1 and report.changed_meanwhile == 2
    async with unit_of_work(sessions) as db:
        assert await db.get(Tenant, deleted.id) is None
        marker = await db.get(Tenant, destroyed.id)
        assert (marker.wrapped_data_key, marker.data_key_wrapped_by) == ("destroyed", "destroyed")
        assert (await db.get(Tenant, kept.id)).data_key_wrapped_by == ring.primary_id


async def test_rotation_re_wraps_the_platform_admins_totp_seeds(fresh_database):
    """Without this, removing the old key would lock every platform admin out of the second factor."""
    from portal.identity import second_factor
    from portal.identity.services import create_platform_admin

    settings, sessions = fresh_database
    old_key, new_key = settings.encryption_key, Fernet.generate_key().decode()
    old_vault = Vault(MasterKeyring(old_key))
    async with unit_of_work(sessions) as db:
        admin = await create_platform_admin(
            db, ACTOR, email="rot-admin@example.com", password="a long enough password"
        )
        enrolment = second_factor.new_enrolment(admin.email)
        await second_factor.enrol(
            db,
            old_vault,
            settings,
            ACTOR,
            admin,
            secret=enrolment.secret,
            code=pyotp.TOTP(enrolment.secret).now(),
        )
        user_id = str(admin.id)
    report = await rotate_master_key(sessions, MasterKeyring(new_key, (old_key,)), ACTOR)
    assert report.ok, report
    async with unit_of_work(sessions) as db:
        wrapped = await db.scalar(
            select(User.totp_secret_wrapped).where(User.email == "rot-admin@example.com")
        )
    new_only = Vault(MasterKeyring(new_key))
    assert new_only.open_platform_secret(wrapped, bound_to=user_id) == enrolment.secret
