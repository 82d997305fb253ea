"""What every page's header shows about the caller: the tenant they are acting in, and the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from portal.web.auth import Principal


@dataclass(frozen=True)
class ActingTenant:
    slug: str
    name: str
    role: str  # "admin" | "member" | "platform"


def acting_tenant(
    request: Request[Any, Any, Any], principal: Principal | None, page_tenant: Any
) -> ActingTenant | None:
    """The impersonated tenant; else the page's tenant if theirs; else the session's; else their only one."""
    if principal is None or principal.via != "session":
        return None
    if principal.impersonation is not None:
        imp = principal.impersonation
        return ActingTenant(imp.slug, imp.tenant_name or imp.slug, "admin")
    by_id = {str(m.tenant_id): m for m in principal.memberships}
    if page_tenant is not None and str(getattr(page_tenant, "id", "")) in by_id:
        access = by_id[str(page_tenant.id)]
        return ActingTenant(access.slug, page_tenant.name, access.role)
    if page_tenant is not None and principal.is_platform_admin:
        return ActingTenant(page_tenant.slug, page_tenant.name, "platform")
    session = request.scope.get("session")
    chosen = by_id.get(str(session.get("tenant_id"))) if isinstance(session, dict) else None
    if chosen is None and len(principal.memberships) == 1 and not principal.is_platform_admin:
        chosen = principal.memberships[0]
    return ActingTenant(chosen.slug, chosen.name or chosen.slug, chosen.role) if chosen else None
