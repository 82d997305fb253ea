"""The master keyring: Fernet keys that wrap each tenant's data key.

The first key wraps; every key unwraps. Each wrapped key is stored with the id of the
master key that wrapped it, so a rotation knows which tenants it still has to do.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

DATA_KEY_BYTES = 32


class KeyUnavailable(Exception):
    """A wrapped data key does not open with any configured master key."""


def key_id(fernet_key: str) -> str:
    """A short, non-secret fingerprint of a master key."""
    return hashlib.sha256(b"portal-master-key-id:" + fernet_key.encode()).hexdigest()[:16]


def new_master_key() -> str:
    """A new Fernet key for ENCRYPTION_KEY."""
    return Fernet.generate_key().decode()


def is_master_key(value: str) -> bool:
    """Whether the text is a usable Fernet key (32 url-safe base64 bytes)."""
    try:
        Fernet(value.encode())
    except (ValueError, TypeError):
        return False
    return True


def new_data_key() -> bytes:
    return os.urandom(DATA_KEY_BYTES)


class MasterKeyring:
    def __init__(self, primary: str, previous: tuple[str, ...] | list[str] = ()) -> None:
        self._keys = [primary, *[k for k in previous if k != primary]]
        self._fernets = [Fernet(k.encode()) for k in self._keys]
        self._multi = MultiFernet(self._fernets)
        self.primary_id = key_id(primary)
        self.key_ids = tuple(key_id(k) for k in self._keys)

    def wrap(self, data_key: bytes) -> str:
        return self._fernets[0].encrypt(data_key).decode()

    def unwrap(self, wrapped: str) -> bytes:
        try:
            return self._multi.decrypt(wrapped.encode())
        except (InvalidToken, ValueError) as exc:
            raise KeyUnavailable(
                "the tenant data key does not open with ENCRYPTION_KEY or ENCRYPTION_KEY_PREVIOUS"
            ) from exc

    def unwrap_with_primary(self, wrapped: str) -> bytes:
        try:
            return self._fernets[0].decrypt(wrapped.encode())
        except (InvalidToken, ValueError) as exc:
            raise KeyUnavailable("the tenant data key does not open with ENCRYPTION_KEY") from exc

    def rewrap(self, wrapped: str) -> str:
        """Re-encrypt a wrapped data key under the primary key."""
        return self.wrap(self.unwrap(wrapped))
