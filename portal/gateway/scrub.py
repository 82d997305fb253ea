"""The provider's secret never leaves in an answer: every occurrence of each secret value of the
credential is replaced before bytes from the provider are passed on (error bodies, answers, stream
events alike)."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

REDACTED = b"[redacted]"


class Scrubber:
    """Replaces a credential's secret values (as sent, and as JSON would escape them) in bytes."""

    __slots__ = ("_needles",)

    def __init__(self, secrets: Iterable[str]) -> None:
        needles: set[bytes] = set()
        for secret in secrets:
            if secret:
                needles.add(secret.encode())
                needles.add(msgspec.json.encode(secret)[1:-1])  # "\/" and "\u…" forms
        # Longest first: a secret that contains another is replaced whole.
        self._needles = tuple(sorted(needles, key=len, reverse=True))

    def __call__(self, data: bytes) -> bytes:
        for needle in self._needles:
            if needle in data:
                data = data.replace(needle, REDACTED)
        return data

    def text(self, value: str) -> str:
        return self(value.encode()).decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"Scrubber(<{len(self._needles)} values>)"
