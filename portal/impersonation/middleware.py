"""The hook that records an impersonation that ran out, and tells the admin."""

from __future__ import annotations

from litestar.types import ASGIApp, Receive, Scope, Send

from portal.audit.actor import Actor
from portal.db.session import unit_of_work
from portal.impersonation import services
from portal.web.auth import AuthState, Impersonation
from portal.web.middleware import SkipsStatic
from portal.web.state import PortalState


class ImpersonationExpiryMiddleware(SkipsStatic):
    """Records the end of an impersonation that ran out (auth's middleware drops it from the session
    and leaves it in the scope), and tells the admin with a flash message."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        expired: Impersonation | None = scope.get("portal_impersonation_expired")  # type: ignore[assignment]
        if expired is not None:
            await self._record(scope, expired)
        await next_app(scope, receive, send)

    async def _record(self, scope: Scope, imp: Impersonation) -> None:
        state: PortalState = scope["litestar_app"].state.portal
        auth: AuthState | None = scope.get("portal_auth")  # type: ignore[assignment]
        principal = auth.principal if auth else None
        label = principal.label if principal else "unknown"
        client = scope.get("client")
        headers = dict(scope.get("headers", []))
        actor = Actor(
            label=label,
            user_id=principal.user_id if principal else None,
            is_platform_admin=True,
            impersonator=label,
            ip=client[0] if client else None,
            user_agent=headers.get(b"user-agent", b"").decode("latin-1") or None,
        )
        async with unit_of_work(state.sessions) as db:
            await services.end_impersonation(
                db,
                actor,
                tenant_id=imp.tenant_id,
                slug=imp.slug,
                reason=imp.reason,
                started_at=imp.started_at,
                expired=True,
            )
        session = scope.get("session")
        if isinstance(session, dict):
            minutes = int(services.IMPERSONATION_TTL.total_seconds() // 60)
            session.setdefault("_messages", []).append(
                {
                    "message": f"Your impersonation of {imp.tenant_name} ended after {minutes} minutes.",
                    "category": "info",
                }
            )
