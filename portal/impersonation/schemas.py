"""JSON shapes of the impersonation API."""

from __future__ import annotations

import msgspec

from portal.inputs import Input
from portal.web.auth import Impersonation


class ImpersonateIn(Input):
    tenant_id: str
    reason: str


class ImpersonationOut(msgspec.Struct):
    impersonating: bool
    tenant_id: str | None = None
    slug: str | None = None
    tenant_name: str | None = None
    reason: str | None = None
    started_at: str | None = None
    expires_at: str | None = None

    @classmethod
    def of(cls, imp: Impersonation | None) -> ImpersonationOut:
        if imp is None:
            return cls(impersonating=False)
        return cls(
            impersonating=True,
            tenant_id=str(imp.tenant_id),
            slug=imp.slug,
            tenant_name=imp.tenant_name,
            reason=imp.reason,
            started_at=imp.started_at.isoformat(),
            expires_at=imp.expires_at.isoformat(),
        )
