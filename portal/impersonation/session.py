"""Starting and ending an impersonation in the signed-in session: the audit event (services), a new
session id, and the session's impersonation entry."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.actor import Actor
from portal.errors import Conflict, Forbidden
from portal.impersonation import services
from portal.web.auth import IMPERSONATION_KEY, Impersonation, Principal, principal_of
from portal.web.sessions import renew_session_id


def _person(request: Request[Any, Any, Any]) -> Principal:
    principal = principal_of(request)
    if principal is None or principal.via != "session":
        raise Forbidden("Impersonation lives in a signed-in session: the platform API key cannot impersonate")
    return principal


async def begin(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, tenant_ref: str, reason: str
) -> Impersonation:
    _person(request)
    started = await services.start_impersonation(db, actor, tenant_ref=tenant_ref, reason=reason)
    imp = Impersonation(**asdict(started))
    await renew_session_id(request)  # a change of rights gets a new session id
    request.session[IMPERSONATION_KEY] = imp.as_session()
    return imp


async def end(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Impersonation:
    principal = _person(request)
    imp = principal.impersonation
    if imp is None:
        raise Conflict("You are not impersonating anyone")
    await services.end_impersonation(
        db, actor, tenant_id=imp.tenant_id, slug=imp.slug, reason=imp.reason, started_at=imp.started_at
    )
    await renew_session_id(request)
    request.session.pop(IMPERSONATION_KEY, None)
    return imp
