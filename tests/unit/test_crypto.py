from __future__ import annotations

import base64
import uuid

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto.keyring import KeyUnavailable, MasterKeyring, key_id, new_data_key
from portal.crypto.sealing import (
    NONCE_BYTES,
    SealedPlace,
    Undecryptable,
    masked_hint,
    open_sealed,
    open_sealed_with,
    seal,
)
from portal.crypto.vault import Vault

SECRET = "sk-live-abcdefghijklmnop1234"


def place(**changes: object) -> SealedPlace:
    base = {
        "tenant_id": uuid.UUID(int=1),
        "table": "credentials",
        "row_id": uuid.UUID(int=2),
        "field": "api_key",
    }
    return SealedPlace(**{**base, **changes})  # type: ignore[arg-type]


def test_seal_round_trip_and_fresh_nonce():
    key = new_data_key()
    first, second = seal(key, SECRET, place()), seal(key, SECRET, place())
    assert first.startswith("v1:") and first != second
    assert SECRET not in first
    assert open_sealed(key, first, place()) == SECRET


@pytest.mark.parametrize(
    "moved",
    [
        {"tenant_id": uuid.UUID(int=9)},
        {"row_id": uuid.UUID(int=9)},
        {"field": "endpoint"},
        {"table": "identity_providers"},
    ],
    ids=["other-tenant", "other-row", "other-field", "other-table"],
)
def test_associated_data_binds_value_to_its_place(moved):
    key = new_data_key()
    sealed = seal(key, SECRET, place())
    with pytest.raises(Undecryptable, match="integrity check failed"):
        open_sealed(key, sealed, place(**moved))


INTEGRITY = "integrity check failed"
TAG_BYTES = 16


def _raw(sealed: str) -> bytes:
    return base64.urlsafe_b64decode(sealed.removeprefix("v1:"))


def _stored(raw: bytes) -> str:
    return "v1:" + base64.urlsafe_b64encode(raw).decode()


def _flip(raw: bytes, index: int) -> bytes:
    flipped = bytearray(raw)
    flipped[index] ^= 0x01
    return bytes(flipped)


# Stored layout: nonce (12 bytes) || ciphertext (as long as the secret) || tag (16 bytes).
@pytest.mark.parametrize(
    "index",
    [
        0,
        NONCE_BYTES - 1,
        NONCE_BYTES,
        NONCE_BYTES + len(SECRET) // 2,
        NONCE_BYTES + len(SECRET) - 1,
        -TAG_BYTES,
        -1,
    ],
    ids=[
        "nonce-first",
        "nonce-last",
        "ciphertext-first",
        "ciphertext-middle",
        "ciphertext-last",
        "tag-first",
        "tag-last",
    ],
)
def test_every_flipped_byte_is_refused(index):
    key = new_data_key()
    raw = _raw(seal(key, SECRET, place()))
    assert len(raw) == NONCE_BYTES + len(SECRET) + TAG_BYTES
    with pytest.raises(Undecryptable, match=INTEGRITY):
        open_sealed(key, _stored(_flip(raw, index)), place())


@pytest.mark.parametrize(
    "change",
    [lambda raw: raw[:-1], lambda raw: raw + b"\x00", lambda raw: raw[:NONCE_BYTES] + raw[NONCE_BYTES + 1 :]],
    ids=["tag-truncated", "byte-appended", "ciphertext-byte-removed"],
)
def test_a_shortened_or_lengthened_value_is_refused(change):
    key = new_data_key()
    raw = _raw(seal(key, SECRET, place()))
    with pytest.raises(Undecryptable, match=INTEGRITY):
        open_sealed(key, _stored(change(raw)), place())


@pytest.mark.parametrize("prefix", ["v2:", "V1:", "v0:", "v1;", ""])
def test_a_changed_version_prefix_is_refused(prefix):
    key = new_data_key()
    sealed = seal(key, SECRET, place())
    with pytest.raises(Undecryptable, match="unknown sealing format"):
        open_sealed(key, prefix + sealed.removeprefix("v1:"), place())


def test_associated_data_of_another_version_is_refused():
    """The version is inside the associated data too: relabelling a value's scheme cannot open it."""
    key = new_data_key()
    sealed = seal(key, SECRET, place())
    other = place().associated_data().replace(b"v1|", b"v2|", 1)
    with pytest.raises(Undecryptable, match=INTEGRITY):
        open_sealed_with(AESGCM(key), sealed, place(), associated_data=other)


def test_wrong_data_key_is_refused():
    sealed = seal(new_data_key(), SECRET, place())
    with pytest.raises(Undecryptable):
        open_sealed(new_data_key(), sealed, place())


@pytest.mark.parametrize("stored", ["v9:abcd", "no-version", "v1:***", "v1:"])
def test_unknown_or_corrupt_format_is_refused_with_reason(stored):
    with pytest.raises(Undecryptable) as info:
        open_sealed(new_data_key(), stored, place())
    assert str(info.value)


@pytest.mark.parametrize(
    ("secret", "hint"),
    [("sk-abcdefgh1234", "...1234"), ("123456789012", "...9012"), ("12345678901", "..."), ("short", "...")],
)
def test_masked_hint_only_for_long_secrets(secret, hint):
    assert masked_hint(secret) == hint


def test_keyring_primary_wraps_and_previous_unwraps():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    data_key = new_data_key()
    wrapped_old = MasterKeyring(old).wrap(data_key)
    ring = MasterKeyring(new, (old,))
    assert ring.unwrap(wrapped_old) == data_key
    with pytest.raises(KeyUnavailable):
        ring.unwrap_with_primary(wrapped_old)
    rewrapped = ring.rewrap(wrapped_old)
    assert MasterKeyring(new).unwrap_with_primary(rewrapped) == data_key
    assert ring.primary_id == key_id(new) != key_id(old)


def test_keyring_without_the_wrapping_key_refuses():
    wrapped = MasterKeyring(Fernet.generate_key().decode()).wrap(new_data_key())
    with pytest.raises(KeyUnavailable, match="ENCRYPTION_KEY"):
        MasterKeyring(Fernet.generate_key().decode()).unwrap(wrapped)


def test_vault_reports_which_field_does_not_open():
    vault = Vault(MasterKeyring(Fernet.generate_key().decode()))
    wrapped, _ = vault.new_wrapped_data_key()
    where = {"tenant_id": uuid.uuid4(), "table": "credentials", "row_id": uuid.uuid4()}
    sealed = vault.seal_fields(wrapped, values={"api_key": SECRET}, **where)
    assert vault.open_fields(wrapped, sealed=sealed, **where) == {"api_key": SECRET}
    other_tenant = {**where, "tenant_id": uuid.uuid4()}
    assert "api_key" in (vault.check_fields(wrapped, sealed=sealed, **other_tenant) or "")
    foreign = Vault(MasterKeyring(Fernet.generate_key().decode()))
    assert "ENCRYPTION_KEY" in (foreign.check_fields(wrapped, sealed=sealed, **where) or "")
