"""Linking a new sign-in (issuer, subject) to the account one is signed in to: only on an explicit,
confirmed POST, in a freshly authenticated session of that account, and never for platform admins.

finish_sign_in() keeps what the provider vouched for under LINK_KEY and sends the browser to the
confirmation page, which names the provider; the POST here admits the person with the link.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.actor import Actor
from portal.db.models import Tenant
from portal.identity.oidc.client import VerifiedPerson
from portal.identity.oidc.completion import LINK_KEY, Completion, complete_sign_in, session_data
from portal.identity.oidc.flow import refuse
from portal.identity.oidc.refusals import SignInRefused
from portal.identity.oidc.services import Admission, admit, enabled_provider
from portal.web.auth import authenticated_at, principal_of
from portal.web.templating import render

LINK_TTL = 600  # seconds the confirmation page stays valid
FRESH_SECONDS = 600  # how recently the account must have signed in to confirm a link


def _pending(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    """The link waiting for this session's person, if it is theirs and still in time."""
    session = session_data(request)
    pending = session.get(LINK_KEY)
    principal = principal_of(request)
    if (
        not isinstance(pending, dict)
        or principal is None
        or principal.user_id is None
        or pending.get("user_id") != str(principal.user_id)
        or time.time() - float(pending.get("at", 0)) > LINK_TTL
    ):
        return None
    return pending


def _fresh(request: Request[Any, Any, Any]) -> bool:
    return time.time() - authenticated_at(session_data(request)) <= FRESH_SECONDS


NOTHING_TO_LINK = (
    "There is no sign-in waiting to be linked to your account (it expired, or was started in another "
    "browser). Start the sign-in again."
)


def _nothing_to_link() -> SignInRefused:
    return SignInRefused("nothing_to_link", NOTHING_TO_LINK, status_code=400)


async def confirmation_page(request: Request[Any, Any, Any]) -> Response[Any]:
    pending = _pending(request)
    if pending is None:
        return await refuse(request, _nothing_to_link())
    done = Completion.from_session(pending["completion"])
    context = {
        "issuer": pending["person"]["issuer"],
        "tenant_name": done.tenant_name,
        "email": pending["email"],
        "fresh": _fresh(request),
        "fresh_minutes": FRESH_SECONDS // 60,
    }
    return render(request, "auth/link.html", context)


async def confirm(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Response[Any]:
    """Link the waiting sign-in to the signed-in account, then finish signing in through it."""
    pending = _pending(request)
    request.set_session({k: v for k, v in session_data(request).items() if k != LINK_KEY})  # single use
    if pending is None:
        return await refuse(request, _nothing_to_link(), db=db)
    done = Completion.from_session(pending["completion"])
    try:
        admission = await _admit(request, db, actor, pending)
    except SignInRefused as refusal:
        return await refuse(request, refusal.at(done.tenant_id, done.tenant_name), db=db)
    return await complete_sign_in(request, admission, done)


async def _admit(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, pending: dict[str, Any]
) -> Admission:
    """The person admitted through the confirmed link; refused for a platform admin, a session that
    signed in too long ago, or a provider that changed meanwhile."""
    principal = principal_of(request)
    if principal is None or principal.user_id is None or principal.is_platform_admin:
        reason = "Platform admin accounts cannot be reached through an organisation's identity provider."
        raise SignInRefused("platform_admin_link", reason).by(actor.label)
    if not _fresh(request):
        reason = (
            f"To link a new sign-in to {pending['email']}, that account must have signed in within the last "
            f"{FRESH_SECONDS // 60} minutes. Sign out, sign in to it again, then start this sign-in again."
        )
        raise SignInRefused("link_not_fresh", reason).by(actor.label)
    done = Completion.from_session(pending["completion"])
    person = VerifiedPerson(**pending["person"])
    tenant = await db.get(Tenant, done.tenant_id)
    if tenant is None:
        raise SignInRefused("sso_unavailable", NOTHING_TO_LINK, status_code=404)
    try:
        idp = await enabled_provider(db, tenant, issuer=person.issuer)
    except SignInRefused:
        raise SignInRefused("sso_unavailable", NOTHING_TO_LINK, status_code=404) from None
    try:
        return await admit(
            db,
            actor,
            tenant,
            idp,
            person,
            invitation_token=pending.get("invitation") or None,
            signed_in_user_id=principal.user_id,
            link_confirmed=True,
        )
    except SignInRefused as refusal:
        raise refusal.by(actor.label) from None
