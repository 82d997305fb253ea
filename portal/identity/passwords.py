"""Password hashing (argon2id). Hashing and verifying take tens of milliseconds of CPU each: they run
in a worker thread, so a storm of sign-ins does not stall every other request on the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown (or has no password), so timing does not reveal
# which e-mails exist.
_DUMMY_HASH = _hasher.hash("portal-dummy-password")
MIN_PASSWORD = 12


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True only for a real hash that matches; an absent hash costs the same work and is False."""
    return await asyncio.to_thread(_verify, password_hash, password)
