"""Who is acting, as services and the audit log see it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    label: str  # e-mail of a person, or "api-key:platform"
    user_id: uuid.UUID | None = None
    is_platform_admin: bool = False
    impersonator: str | None = None
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(label=label, is_platform_admin=True)

    def as_person(
        self, label: str, user_id: uuid.UUID | None = None, *, is_platform_admin: bool = False
    ) -> Actor:
        """Who acts from this connection (same address and browser) once known, e.g. the person signing
        in: the request's own actor did not name them yet."""
        return Actor(label, user_id, is_platform_admin, ip=self.ip, user_agent=self.user_agent)
