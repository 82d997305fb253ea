"""Secret fields sealed with AES-256-GCM under a tenant's data key.

The associated data binds each value to its place (tenant, table, row, field), so a
ciphertext copied to another row or tenant does not open. Stored form: "v1:" + base64url
of nonce || ciphertext-with-tag.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
NONCE_BYTES = 12


class Undecryptable(Exception):
    """A sealed value cannot be opened; the message is a reason safe to show."""


@dataclass(frozen=True)
class SealedPlace:
    tenant_id: uuid.UUID
    table: str
    row_id: uuid.UUID
    field: str

    def associated_data(self) -> bytes:
        return f"{VERSION}|{self.tenant_id}|{self.table}|{self.row_id}|{self.field}".encode()


def seal(data_key: bytes, plaintext: str, place: SealedPlace) -> str:
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext.encode(), place.associated_data())
    return f"{VERSION}:" + base64.urlsafe_b64encode(nonce + ciphertext).decode()


def open_sealed(data_key: bytes, stored: str, place: SealedPlace) -> str:
    return open_sealed_with(AESGCM(data_key), stored, place)


def open_sealed_with(
    aead: AESGCM, stored: str, place: SealedPlace, associated_data: bytes | None = None
) -> str:
    """As open_sealed, with the AES-GCM cipher of a data key already made (and, optionally, the
    place's associated data already encoded)."""
    version, sep, body = stored.partition(":")
    if not sep or version != VERSION:
        raise Undecryptable(f"unknown sealing format {version[:8]!r}")
    try:
        raw = base64.urlsafe_b64decode(body.encode())
    except (binascii.Error, ValueError) as exc:
        raise Undecryptable("sealed value is corrupt (not base64)") from exc
    if len(raw) <= NONCE_BYTES:
        raise Undecryptable("sealed value is corrupt (too short)")
    try:
        plaintext = aead.decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data or place.associated_data()
        )
    except InvalidTag as exc:
        raise Undecryptable(
            "integrity check failed: the value was altered, moved from another row or tenant, "
            "or sealed under another data key"
        ) from exc
    return plaintext.decode()


def masked_hint(secret: str) -> str:
    """`...` plus the last four characters, only when four characters give nothing away."""
    return f"...{secret[-4:]}" if len(secret) >= 12 else "..."
