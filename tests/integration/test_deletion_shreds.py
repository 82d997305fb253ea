"""Deleting a tenant shreds it on SQLite: nothing carved from the database file or its WAL opens.

The attacker holds a copy of the files and the master key (a backup and a leaked environment):
every Fernet token and every sealed value found in the raw bytes is tried.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from litestar import Litestar
from sqlalchemy import select

from portal.crypto.keyring import MasterKeyring
from portal.crypto.sealing import NONCE_BYTES, VERSION, SealedPlace
from portal.db.migrate import upgrade
from portal.db.models import Credential, IdentityProvider, Tenant
from tests.support.api import TENANTS, new_tenant
from tests.support.apps import client_for, running_app
from tests.support.env import API_KEY, make_settings

FERNET_TOKEN = re.compile(rb"gAAAAA[A-Za-z0-9_\-]+=*")
SEALED_VALUE = re.compile(VERSION.encode() + rb":([A-Za-z0-9_\-]+=*)")


@pytest.fixture
async def sqlite_app(tmp_path: Path) -> AsyncIterator[tuple[Litestar, Path]]:
    database = tmp_path / "shred.db"
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{database}")
    await upgrade(settings)
    async with running_app(settings) as application:
        yield application, database


def raw_bytes(database: Path) -> bytes:
    """The database file and its WAL, as an attacker copying them would read them."""
    wal = database.with_name(database.name + "-wal")
    return database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def carve_data_keys(raw: bytes, keyring: MasterKeyring) -> set[bytes]:
    """Every data key that a Fernet token in the bytes opens to under the master keyring."""
    keys = set()
    for token in set(FERNET_TOKEN.findall(raw)):
        for end in range(len(token), 56, -1):  # a token may run into the next record's bytes
            try:
                keys.add(keyring._multi.decrypt(token[:end]))
                break
            except (InvalidToken, ValueError):
                continue
    return keys


def opened_sealed_values(raw: bytes, data_keys: set[bytes], places: list[SealedPlace]) -> list[str]:
    opened = []
    for body in set(SEALED_VALUE.findall(raw)):
        for data_key in data_keys:
            for place in places:
                for end in range(len(body), NONCE_BYTES + 16, -1):
                    try:
                        blob = base64.urlsafe_b64decode(body[:end] + b"=" * (-end % 4))
                        plain = AESGCM(data_key).decrypt(
                            blob[:NONCE_BYTES], blob[NONCE_BYTES:], place.associated_data()
                        )
                    except Exception:  # any failure means it does not open
                        continue
                    opened.append(plain.decode(errors="replace"))
                    break
    return opened


async def test_a_deleted_tenant_leaves_nothing_that_opens_in_the_file_or_the_wal(sqlite_app):
    app, database = sqlite_app
    keyring = app.state.portal.vault.keyring
    provider_secret = "sk-shred-me-" + uuid.uuid4().hex
    sso_secret = "sso-shred-me-" + uuid.uuid4().hex
    async with client_for(app, headers={"X-API-Key": API_KEY}) as api:
        tenant = await new_tenant(api, name="Doomed")
        saved = await api.put(
            f"{TENANTS}/{tenant['id']}/credentials/openai", json={"api_key": provider_secret}
        )
        assert saved.status_code in (200, 201), saved.text
        sso = await api.put(
            f"{TENANTS}/{tenant['id']}/federation",
            json={"issuer": "https://idp.example", "client_id": "portal", "client_secret": sso_secret},
        )
        assert sso.status_code == 200, sso.text

        tenant_id = uuid.UUID(tenant["id"])
        async with app.state.portal.sessions() as db:
            row = await db.scalar(select(Tenant).where(Tenant.id == tenant_id))
            data_key = keyring.unwrap(row.wrapped_data_key)
            places = [
                SealedPlace(tenant_id, "credentials", c.id, field)
                for c in await db.scalars(select(Credential).where(Credential.tenant_id == tenant_id))
                for field in c.sealed_fields
            ] + [
                SealedPlace(tenant_id, "identity_providers", i.id, field)
                for i in await db.scalars(
                    select(IdentityProvider).where(IdentityProvider.tenant_id == tenant_id)
                )
                for field in i.sealed_fields
            ]
        assert len(places) == 2
        # The carving finds the tenant before deletion: the check below is not vacuous.
        before = raw_bytes(database)
        assert data_key in carve_data_keys(before, keyring)
        assert set(opened_sealed_values(before, {data_key}, places)) == {provider_secret, sso_secret}

        deleted = await api.delete(f"{TENANTS}/{tenant['id']}")
        assert deleted.status_code == 204, deleted.text

    after = raw_bytes(database)
    recovered = carve_data_keys(after, keyring)
    assert data_key not in recovered, "the deleted tenant's wrapped data key is still in the files"
    assert opened_sealed_values(after, recovered | {data_key}, places) == [], (
        "a deleted tenant's sealed secret still opens from the files"
    )
    assert provider_secret.encode() not in after and sso_secret.encode() not in after
