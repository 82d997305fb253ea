from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet

from portal.crypto.keyring import KeyUnavailable, MasterKeyring, key_id, new_data_key
from portal.crypto.sealing import SealedPlace, Undecryptable, masked_hint, open_sealed, seal
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


def test_tampered_ciphertext_is_refused():
    key = new_data_key()
    sealed = seal(key, SECRET, place())
    body = sealed[3:]
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    with pytest.raises(Undecryptable):
        open_sealed(key, "v1:" + flipped, place())


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
