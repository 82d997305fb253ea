"""The audit chain's key: derived from a server secret that is not in the database, so someone who
can write the database cannot recompute the chain after editing or removing an event."""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PURPOSE = b"llm-portal audit chain v1"


class AuditKey:
    """HMAC-SHA256 over an event's canonical form; never printed."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def derive(cls, server_secret: str) -> AuditKey:
        """HKDF-SHA256 with its own purpose label: the same secret keys issued API keys' hashes
        under a different use, and neither can stand in for the other."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE)
        return cls(hkdf.derive(server_secret.encode()))

    def digest(self, message: bytes) -> str:
        return hmac.digest(self._key, message, "sha256").hex()

    def __repr__(self) -> str:
        return "AuditKey(...)"
