"""The page an invitation link opens (/invite/{token}), and signing in through the tenant's provider
to accept it: anyone may open it; the token decides what it shows. Identity depends on members
here (the invitation's rules live there), never the other way round."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import anonymous
from portal.errors import InvalidInput, NotFound
from portal.identity.oidc.flow import start_sign_in
from portal.members.invitations import OpenInvitation, open_invitation
from portal.web.deps import Db
from portal.web.guards import allow_anyone
from portal.web.templating import render
from portal.web.throttle import throttle_of

TEMPLATE = "members/invitation.html"
NO_REFERRER = {"Referrer-Policy": "no-referrer"}  # the token in the URL goes nowhere else


def _refused(request: Request[Any, Any, Any], exc: NotFound | InvalidInput) -> Response[Any]:
    status = 404 if isinstance(exc, NotFound) else 410
    response = render(request, TEMPLATE, {"refusal": exc.message}, status_code=status)
    response.headers.update(NO_REFERRER)
    return response


async def _open(
    request: Request[Any, Any, Any], db: AsyncSession, token: str
) -> OpenInvitation | Response[Any]:
    """The invitation, or the refusal page; guessing tokens is throttled per address."""
    client = request.client.host if request.client else None
    attempt = await throttle_of(request).check("invitation", client_ip=client)
    try:
        found = await open_invitation(db, token)
    except NotFound as exc:
        anonymous.note("invitation: unknown token")
        await attempt.failed()
        return _refused(request, exc)
    except InvalidInput as exc:  # a real invitation, expired or used: not a guess
        await attempt.succeeded()
        return _refused(request, exc)
    await attempt.succeeded()
    return found


class InvitationPages(Controller):
    path = "/invite/{token:str}"
    guards = [allow_anyone]
    include_in_schema = False

    @get("/")
    async def show(self, request: Request[Any, Any, Any], db: Db, token: FromPath[str]) -> Response[Any]:
        found = await _open(request, db, token)
        if isinstance(found, Response):
            return found
        context = {"invitation": found.invitation, "target_tenant": found.tenant, "token": token}
        response = render(request, TEMPLATE, context)
        response.headers.update(NO_REFERRER)
        return response

    @post("/accept")
    async def accept(self, request: Request[Any, Any, Any], db: Db, token: FromPath[str]) -> Response[Any]:
        """Off to the tenant's identity provider; its callback accepts the invitation."""
        found = await _open(request, db, token)
        if isinstance(found, Response):
            return found
        return await start_sign_in(request, found.tenant, next_url="", invitation_token=token)
