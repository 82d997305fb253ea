"""Who is calling: a signed-in person (session) or the platform API key (X-API-Key), and what
they may reach: platform-wide, or tenants through memberships or an impersonation."""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.csrf import generate_csrf_hash
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy import select

from portal.apikeys.refusals import Refusal
from portal.audit import anonymous
from portal.audit.actor import Actor
from portal.db.models import Membership, Tenant, User
from portal.impersonation.services import Started
from portal.tenant_refs import as_tenant_id
from portal.web.middleware import SkipsStatic
from portal.web.state import PortalState
from portal.web.throttle import Attempt, Throttled

API_KEY_HEADER = "x-api-key"
TENANT_HEADER = "x-tenant-id"
CSRF_COOKIE = "portal_csrf"
CSRF_HEADER = "x-csrftoken"
PLATFORM_KEY_LABEL = "api-key:platform"


IMPERSONATION_KEY = "impersonation"
# How the session was authenticated: {"method": "password", "second_factor": bool, "at": epoch} or
# {"method": "sso", "issuer": ..., "at": epoch}. Platform rights come only from the first kind.
AUTH_KEY = "auth"


def password_auth(*, second_factor: bool) -> dict[str, Any]:
    return {"method": "password", "second_factor": second_factor, "at": time.time()}


def sso_auth(issuer: str) -> dict[str, Any]:
    return {"method": "sso", "issuer": issuer, "at": time.time()}


def session_auth(session: Any) -> dict[str, Any] | None:
    auth = session.get(AUTH_KEY) if isinstance(session, dict) else None
    if not isinstance(auth, dict) or auth.get("method") not in ("password", "sso"):
        return None
    return auth


def authenticated_at(session: Any) -> float:
    auth = session_auth(session)
    try:
        return float(auth["at"]) if auth else 0.0
    except (TypeError, ValueError, KeyError):
        return 0.0


def platform_rights(auth: dict[str, Any], user: User, mfa_mode: str) -> bool:
    """Platform rights: a platform admin's password session with its second factor (or, where the
    second factor is optional, an admin who has not enrolled one). Never a single sign-on session."""
    if auth.get("method") != "password" or not user.is_platform_admin:
        return False
    return auth.get("second_factor") is True or (mfa_mode == "optional" and not user.has_second_factor)


@dataclass(frozen=True)
class TenantAccess:
    tenant_id: uuid.UUID
    slug: str
    role: str  # "admin" | "member"
    name: str = ""

    def matches(self, ref: str) -> bool:
        # One rule with the loaders (portal.tenant_refs): a UUID names an id, never a slug.
        tenant_id = as_tenant_id(ref)
        return tenant_id == self.tenant_id if tenant_id is not None else ref == self.slug


@dataclass(frozen=True)
class Impersonation(Started):
    """A platform admin acting as the admin of one tenant, for a stated reason, for a while."""

    def as_session(self) -> dict[str, str]:
        return {
            "tenant_id": str(self.tenant_id),
            "slug": self.slug,
            "tenant_name": self.tenant_name,
            "reason": self.reason,
            "started_at": self.started_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_session(cls, raw: dict[str, str]) -> Impersonation:
        return cls(
            tenant_id=uuid.UUID(raw["tenant_id"]),
            slug=raw["slug"],
            tenant_name=raw.get("tenant_name", ""),
            reason=raw.get("reason", ""),
            started_at=datetime.fromisoformat(raw["started_at"]),
            expires_at=datetime.fromisoformat(raw["expires_at"]),
        )


@dataclass(frozen=True)
class Principal:
    label: str
    via: str  # "session" | "api_key" | "service_key"
    user_id: uuid.UUID | None = None
    email: str | None = None
    name: str | None = None
    is_platform_admin: bool = False
    memberships: tuple[TenantAccess, ...] = ()
    # Tenants the person belongs to that this session has not signed in to through their provider.
    memberships_needing_sign_in: tuple[TenantAccess, ...] = ()
    impersonation: Impersonation | None = None
    # Set for callers bound to one tenant (an issued service key; the platform key with x-tenant-id).
    bound_tenant: TenantAccess | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def acts_platform_wide(self) -> bool:
        return self.is_platform_admin and self.impersonation is None and self.bound_tenant is None

    def access_to(self, ref: str) -> str | None:
        """'platform', 'admin' or 'member' for the tenant named by id or slug; None: not visible."""
        if self.impersonation is not None:
            imp = self.impersonation
            return "admin" if TenantAccess(imp.tenant_id, imp.slug, "admin").matches(ref) else None
        if self.bound_tenant is not None:
            return self.bound_tenant.role if self.bound_tenant.matches(ref) else None
        if self.is_platform_admin:
            return "platform"
        return next((m.role for m in self.memberships if m.matches(ref)), None)


@dataclass(frozen=True)
class AuthState:
    principal: Principal | None
    problem: str | None = None  # why the presented credentials were refused
    # For an issued API key (Bearer): the hot path's Caller (key and tenant) when usable, else
    # the Refusal (unknown, revoked, expired, disabled, past grace, tenant suspended).
    service: Any = None
    refusal: Any = None
    throttled: Throttled | None = None  # too many unknown keys from this address: 429, nothing checked


def auth_state(connection: ASGIConnection[Any, Any, Any, Any]) -> AuthState:
    return connection.scope.get("portal_auth") or AuthState(None)  # type: ignore[return-value]


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    return auth_state(connection).principal


def actor_for(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    principal = principal_of(connection)
    client = connection.client.host if connection.client else None
    agent = connection.headers.get("user-agent")
    if principal is None:
        return Actor(label="anonymous", ip=client, user_agent=agent)
    return Actor(
        label=principal.label,
        user_id=principal.user_id,
        is_platform_admin=principal.is_platform_admin,
        # While a platform admin acts as a tenant's admin, every event names them as impersonator too.
        impersonator=principal.label if principal.impersonation is not None else None,
        ip=client,
        user_agent=agent,
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class PrincipalMiddleware(SkipsStatic):
    """Resolves the caller once per request; guards decide what it may do."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state: PortalState = scope["litestar_app"].state.portal
        scope["portal_auth"] = await self._throttled(scope, state)  # type: ignore[typeddict-unknown-key]
        await next_app(scope, receive, send)

    async def _throttled(self, scope: Scope, state: PortalState) -> AuthState:
        """A presented key (X-API-Key or Bearer) is first checked against the address's failures: a
        throttled one is not looked up at all."""
        if not _presents_key(scope):
            return await self._resolve(scope, state)
        client = scope.get("client")
        try:
            attempt = await state.throttle.check("api_key", client_ip=client[0] if client else None)
        except Throttled as throttled:
            refusal = Refusal("rate_limited", headers=dict(throttled.headers))
            return AuthState(None, refusal.detail, refusal=refusal, throttled=throttled)
        result = await self._resolve(scope, state)
        await _report(attempt, result)
        return result

    async def _resolve(self, scope: Scope, state: PortalState) -> AuthState:
        presented = _header(scope, API_KEY_HEADER.encode())
        if presented is not None:
            expected = state.settings.super_api_key
            if expected and hmac.compare_digest(presented.encode(), expected.encode()):
                # x-tenant-id binds the platform key to one tenant: it then acts as that tenant's admin.
                tenant_ref = _header(scope, TENANT_HEADER.encode())
                bound = await _bind_tenant(state, tenant_ref) if tenant_ref is not None else None
                return AuthState(
                    Principal(
                        label=PLATFORM_KEY_LABEL, via="api_key", is_platform_admin=True, bound_tenant=bound
                    )
                )
            return AuthState(None, "invalid API key")
        authorization = _header(scope, b"authorization")
        if authorization is not None and authorization[:7].lower() == "bearer ":
            return await _service_key(scope, authorization[7:].strip())
        raw_session = scope.get("session")
        session: dict[str, Any] = raw_session if isinstance(raw_session, dict) else {}
        user_id = session.get("user_id") if isinstance(session, dict) else None
        auth = session_auth(session)
        if not user_id or auth is None:
            return AuthState(None)
        async with state.sessions() as db:
            user = await db.scalar(select(User).where(User.id == uuid.UUID(user_id)))
            if user is None:
                return AuthState(None, "session ended: the account no longer exists")
            ended = user.sessions_not_before
            if ended is not None and authenticated_at(session) < ended.timestamp():
                return AuthState(None, "session ended: sign in again")
            is_platform_admin = platform_rights(auth, user, state.settings.platform_admin_mfa)
            if auth["method"] == "password" and not is_platform_admin:
                return AuthState(None, "sign in again with your second factor")
            rows = await db.execute(
                select(Membership.tenant_id, Tenant.slug, Membership.role, Tenant.name)
                .join(Tenant, Tenant.id == Membership.tenant_id)
                .where(Membership.user_id == user.id)
                .order_by(Tenant.slug)
            )
            every = tuple(TenantAccess(r.tenant_id, r.slug, r.role, r.name) for r in rows)
        memberships, needing_sign_in = _reachable(session, auth, every)
        return AuthState(
            Principal(
                label=user.email,
                via="session",
                user_id=user.id,
                email=user.email,
                name=user.name,
                is_platform_admin=is_platform_admin,
                memberships=memberships,
                memberships_needing_sign_in=needing_sign_in,
                impersonation=_impersonation(scope, session) if is_platform_admin else None,
            )
        )


def _presents_key(scope: Scope) -> bool:
    if _header(scope, API_KEY_HEADER.encode()) is not None:
        return True
    authorization = _header(scope, b"authorization")
    return authorization is not None and authorization[:7].lower() == "bearer "


async def _report(attempt: Attempt, result: AuthState) -> None:
    """Only a key that is not known at all is a failed guess; a revoked or expired key is real."""
    if result.principal is None and (result.refusal is None or result.refusal.code == "unknown_key"):
        anonymous.note("api_key: unknown key")
        await attempt.failed()
    else:
        await attempt.succeeded()


# The platform key naming no existing tenant is bound to nothing: every tenant answers 404.
NO_TENANT = TenantAccess(uuid.UUID(int=0), "", "admin")


async def _bind_tenant(state: PortalState, ref: str) -> TenantAccess:
    ref = ref.strip()
    try:
        condition = Tenant.id == uuid.UUID(ref)
    except ValueError:
        condition = Tenant.slug == ref.lower()
    if not ref:
        return NO_TENANT
    async with state.sessions() as db:
        row = (await db.execute(select(Tenant.id, Tenant.slug, Tenant.name).where(condition))).first()
    return TenantAccess(row.id, row.slug, "admin", row.name) if row else NO_TENANT


async def _service_key(scope: Scope, presented: str) -> AuthState:
    """An issued API key binds the request to its tenant; the key's hash decides, never its prefix."""
    hotpath = scope["litestar_app"].state.get("hotpath")
    caller = await hotpath.authenticate(presented) if hotpath is not None and presented else None
    if hotpath is None or caller is None:
        refusal = Refusal("unknown_key")
        return AuthState(None, refusal.detail, refusal=refusal)
    try:
        hotpath.check(caller)
    except Refusal as refusal:
        return AuthState(None, refusal.detail, refusal=refusal)
    principal = Principal(
        label=caller.key.label,
        via="service_key",
        bound_tenant=TenantAccess(caller.tenant.id, caller.tenant.slug, "service"),
        scopes=caller.key.scopes,
    )
    return AuthState(principal, service=caller)


SSO_TENANTS_KEY = "sso_tenants"


def _reachable(
    session: dict[str, Any], auth: dict[str, Any], memberships: tuple[TenantAccess, ...]
) -> tuple[tuple[TenantAccess, ...], tuple[TenantAccess, ...]]:
    """A session signed in through tenants' identity providers reaches only those tenants.

    Otherwise one tenant's provider (or whoever controls it) could open another tenant's data
    for a shared account. Password sessions (platform admins) are not limited this way.
    """
    if auth.get("method") == "password":
        return memberships, ()
    signed_in_to = session.get(SSO_TENANTS_KEY)
    if not isinstance(signed_in_to, list):
        signed_in_to = []
    reachable = tuple(m for m in memberships if str(m.tenant_id) in signed_in_to)
    return reachable, tuple(m for m in memberships if str(m.tenant_id) not in signed_in_to)


def _impersonation(scope: Scope, session: dict[str, Any]) -> Impersonation | None:
    """The session's impersonation while it lasts; an expired one is dropped and noted for audit."""
    raw = session.get(IMPERSONATION_KEY)
    if not raw:
        return None
    impersonation = Impersonation.from_session(raw)
    if impersonation.expires_at <= datetime.now(UTC):
        session.pop(IMPERSONATION_KEY, None)
        scope["portal_impersonation_expired"] = impersonation  # type: ignore[typeddict-unknown-key]
        return None
    return impersonation


def session_csrf_ok(connection: ASGIConnection[Any, Any, Any, Any], secret: str) -> bool:
    """Double-submit check for JSON calls made with a session: header must match the cookie."""
    csrf_config = connection.app.csrf_config
    cookie = connection.cookies.get(csrf_config.cookie_name if csrf_config else CSRF_COOKIE)
    header = connection.headers.get(CSRF_HEADER)
    if not cookie or not header or len(cookie) <= 64 or len(header) <= 64:
        return False

    def valid(token: str) -> bool:
        return hmac.compare_digest(token[64:], generate_csrf_hash(token[:64], secret))

    return valid(cookie) and valid(header) and hmac.compare_digest(cookie[:64], header[:64])
