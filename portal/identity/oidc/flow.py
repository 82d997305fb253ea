"""Sign-in through a tenant's OpenID Provider, the controller's side.

start_sign_in() keeps what the callback needs (state, nonce, PKCE verifier, where to go next, an
invitation token) in the server-side session, keyed by state, and sends the browser to the
provider. finish_sign_in() takes that entry out (single use: a replayed state finds nothing) and
calls the web-free OIDC client (portal.identity.oidc.client) step by step, then admits the person
(portal.identity.oidc.services) in a unit of work of its own. Every step refuses with
SignInRefused; the refusal becomes a page with the reason and an audit event here, once; never a 500.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession, async_object_session

from portal.audit import anonymous
from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.crypto.sealing import Undecryptable
from portal.db.models import IdentityProvider, Tenant
from portal.db.session import unit_of_work
from portal.identity.federation.services import open_client_secret, redirect_url_for
from portal.identity.oidc.client import Authorization, CodeGrant, OidcClient
from portal.identity.oidc.completion import (
    Completion,
    ask_to_confirm_link,
    complete_sign_in,
    portal_of,
    session_data,
)
from portal.identity.oidc.refusals import ANONYMOUS, SignInRefused, secret_undecryptable
from portal.identity.oidc.services import Admission, LinkNeeded, admit, enabled_provider
from portal.web.forms import safe_next
from portal.web.templating import render

log = logging.getLogger("portal.identity.oidc")

PENDING_KEY = "oidc_pending"
PENDING_TTL = 600  # seconds a started sign-in may take
MAX_PENDING = 5  # sign-ins started in one browser at once (several tabs)
PROVIDER_WORDS = {"access_denied": "sign-in was cancelled or refused at the identity provider"}


def actor_of(request: Request[Any, Any, Any], label: str = ANONYMOUS) -> Actor:
    client = request.client.host if request.client else None
    return Actor(label=label, ip=client, user_agent=request.headers.get("user-agent"))


def _client(request: Request[Any, Any, Any], tenant_name: str) -> OidcClient:
    portal = portal_of(request)
    return OidcClient(portal.http, tenant_name, seconds=portal.settings.provider_test_timeout)


# ---------------------------------------------------------------------------------------------
# Refusals: the page and its audit event, in one place


async def refuse(
    request: Request[Any, Any, Any], refusal: SignInRefused, *, db: AsyncSession | None = None
) -> Response[Any]:
    """The refusal page, and an audit event (outcome failure) in a transaction of its own.

    A refusal that names no person is anonymous (anyone can send a callback): for a tenant, the
    first of each kind in a window is audited and the rest counted in the log; without a tenant,
    it is only counted."""
    code = refusal.code
    event = {"method": "oidc", "reason_code": code, "reason": refusal.reason[:500], **refusal.details}
    if refusal.who == ANONYMOUS:
        anonymous.note(f"sso: {code}")
        throttle = portal_of(request).throttle
        if refusal.tenant_id is None or not await throttle.first_in_window(f"sso:{refusal.tenant_id}:{code}"):
            return _refusal_page(request, refusal)
        event["later_ones"] = "counted in the log for 15 minutes"
    try:
        if db is not None:
            await _record(request, db, refusal, event)
        else:
            async with portal_of(request).sessions() as own:
                await _record(request, own, refusal, event)
    except Exception:  # the person still gets their page; the failure is logged
        log.exception("could not audit a refused sign-in (%s)", code)
    return _refusal_page(request, refusal)


async def _record(
    request: Request[Any, Any, Any], db: AsyncSession, refusal: SignInRefused, event: dict[str, Any]
) -> None:
    await audit.record_alone(
        db,
        actor_of(request, refusal.who),
        "auth.sign_in",
        tenant_id=refusal.tenant_id,
        target=f"user:{refusal.who}",
        outcome="failure",
        details=event,
    )


def _refusal_page(request: Request[Any, Any, Any], refusal: SignInRefused) -> Response[Any]:
    context = {
        "reason": refusal.reason,
        "code": refusal.code,
        "tenant_name": refusal.tenant_name,
        "retry_slug": refusal.slug,
    }
    return render(request, "auth/refused.html", context, status_code=refusal.status_code)


# ---------------------------------------------------------------------------------------------
# Starting: off to the provider


@dataclass(frozen=True)
class Pending:
    """A started sign-in, kept in the session under its state until the callback takes it out."""

    tenant_id: str
    issuer: str
    nonce: str
    verifier: str
    redirect_uri: str
    next: str
    invitation: str | None
    at: float

    @classmethod
    def from_session(cls, entry: dict[str, Any]) -> Pending:
        return cls(
            tenant_id=str(entry["tenant_id"]),
            issuer=str(entry.get("issuer")),
            nonce=str(entry["nonce"]),
            verifier=str(entry["verifier"]),
            redirect_uri=str(entry["redirect_uri"]),
            next=str(entry.get("next") or ""),
            invitation=entry.get("invitation") or None,
            at=float(entry.get("at", 0)),
        )


async def start_sign_in(
    request: Request[Any, Any, Any],
    tenant: Tenant,
    *,
    next_url: str = "",
    invitation_token: str | None = None,
    login_hint: str | None = None,
) -> Response[Any]:
    """Send the browser to the tenant's provider (303), or show why that is not possible.

    Uses the database session `tenant` was loaded with when there is one (on SQLite a second
    transaction in the same request would wait for the first).
    """
    db = async_object_session(tenant)
    if db is not None:
        return await _start(request, db, tenant, next_url, invitation_token, login_hint)
    async with portal_of(request).sessions() as own:
        return await _start(request, own, tenant, next_url, invitation_token, login_hint)


async def _start(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    tenant: Tenant,
    next_url: str,
    invitation_token: str | None,
    login_hint: str | None,
) -> Response[Any]:
    tenant_id, name, slug = tenant.id, tenant.name, tenant.slug
    try:
        idp = await enabled_provider(db, tenant)
        redirect_uri = redirect_url_for(portal_of(request).settings, idp)
        authorization = await _authorize(request, tenant, idp, redirect_uri, login_hint)
    except SignInRefused as refusal:
        return await refuse(request, refusal.at(tenant_id, name, slug), db=db)
    entry = {
        "tenant_id": str(tenant_id),
        "issuer": idp.issuer,
        "nonce": authorization.nonce,
        "verifier": authorization.verifier,
        "redirect_uri": redirect_uri,
        "next": safe_next(next_url, ""),
        "invitation": invitation_token,
        "at": time.time(),
    }
    _keep_pending(request, authorization.state, entry)
    return Redirect(authorization.url, status_code=303)


async def _authorize(
    request: Request[Any, Any, Any],
    tenant: Tenant,
    idp: IdentityProvider,
    redirect_uri: str,
    login_hint: str | None,
) -> Authorization:
    """The authorization URL, once the client secret opens and the provider's metadata is usable."""
    problem = portal_of(request).vault.check_fields(
        tenant.wrapped_data_key,
        tenant_id=tenant.id,
        table="identity_providers",
        row_id=idp.id,
        sealed=idp.sealed_fields,
    )
    if problem:
        raise secret_undecryptable(tenant.name, problem)
    metadata = await _client(request, tenant.name).discover(idp.issuer, details={"issuer": idp.issuer})
    return OidcClient.authorization(
        metadata, client_id=idp.client_id, scopes=idp.scopes, redirect_uri=redirect_uri, login_hint=login_hint
    )


def _keep_pending(request: Request[Any, Any, Any], state: str, entry: dict[str, Any]) -> None:
    """Keep the entry under its state; expired entries go, and the oldest beyond MAX_PENDING."""
    pending = {
        key: kept
        for key, kept in session_data(request).get(PENDING_KEY, {}).items()
        if isinstance(kept, dict) and time.time() - float(kept.get("at", 0)) < PENDING_TTL
    }
    while len(pending) >= MAX_PENDING:
        pending.pop(next(iter(pending)))
    pending[state] = entry
    request.set_session({**session_data(request), PENDING_KEY: pending})


# ---------------------------------------------------------------------------------------------
# Finishing: the provider's answer at /auth/callback


@dataclass(frozen=True)
class Callback:
    """The query of the provider's answer."""

    state: str | None
    code: str | None
    iss: str | None
    error: str | None
    error_description: str | None


@dataclass(frozen=True)
class Admitted:
    admission: Admission
    completion: Completion


async def finish_sign_in(
    request: Request[Any, Any, Any],
    *,
    state: str | None,
    code: str | None,
    iss: str | None,
    error: str | None,
    error_description: str | None,
) -> Response[Any]:
    """The provider's answer at /auth/callback: a signed-in person, or a refusal page."""
    answer = Callback(state, code, iss, error, error_description)
    try:
        pending = _take_pending(request, answer)
        outcome = await _admit(request, pending, answer)
    except SignInRefused as refusal:
        return await refuse(request, refusal)
    if isinstance(outcome, Admitted):
        return await complete_sign_in(request, outcome.admission, outcome.completion)
    return outcome


def _take_pending(request: Request[Any, Any, Any], answer: Callback) -> Pending:
    """This browser's sign-in the answer belongs to, taken out of the session whatever happens next."""
    session = session_data(request)
    pending = dict(session.get(PENDING_KEY) or {})
    entry = pending.pop(answer.state, None) if answer.state else None
    if answer.state and entry is not None:
        request.set_session({**session, PENDING_KEY: pending})  # single use, whatever happens next
    if not isinstance(entry, dict):
        # Whatever else the query says (error, error_description) is not shown: without a sign-in
        # of this browser behind it, it may be anyone's text.
        raise SignInRefused(
            "unknown_state",
            "This sign-in answer does not belong to a sign-in started in this browser, or it was used "
            "already. Start again from the sign-in page.",
            status_code=400,
            details={"error": answer.error[:100]} if answer.error else None,
        )
    if time.time() - float(entry.get("at", 0)) >= PENDING_TTL:
        raise SignInRefused(
            "state_expired", "This sign-in took too long. Please start again.", status_code=400
        )
    return Pending.from_session(entry)


async def _admit(
    request: Request[Any, Any, Any], pending: Pending, answer: Callback
) -> Admitted | Response[Any]:
    """In one unit of work: the tenant, the provider's answer checked step by step, the admission."""
    async with unit_of_work(portal_of(request).sessions) as db:
        tenant = await db.get(Tenant, uuid.UUID(pending.tenant_id))
        if tenant is None:
            raise SignInRefused(
                "tenant_gone", "The organisation you were signing in to no longer exists.", status_code=404
            )
        tenant_id, name, slug = tenant.id, tenant.name, tenant.slug
        try:
            return await _through_provider(request, db, tenant, pending, answer)
        except SignInRefused as refusal:
            raise refusal.at(tenant_id, name, slug) from None


async def _through_provider(
    request: Request[Any, Any, Any], db: AsyncSession, tenant: Tenant, pending: Pending, answer: Callback
) -> Admitted | Response[Any]:
    name = tenant.name
    if answer.error:
        raise _provider_error(name, answer.error, answer.error_description)
    idp = await enabled_provider(db, tenant, issuer=pending.issuer)
    issuer, client_id = idp.issuer, idp.client_id
    if not answer.code:
        raise SignInRefused(
            "no_code", "The identity provider sent no sign-in code. Please start again.", status_code=400
        )
    client = _client(request, name)
    metadata = await client.discover(issuer)
    client.check_response_issuer(metadata, answer.iss)
    method = client.auth_method(metadata)
    try:
        client_secret = open_client_secret(portal_of(request).vault, tenant, idp)
    except Undecryptable as exc:
        raise secret_undecryptable(name, exc) from None
    grant = CodeGrant(client_id, client_secret, method, answer.code, pending.redirect_uri, pending.verifier)
    token = await client.exchange_code(metadata, grant)
    needed = {"email", str((idp.role_mapping or {}).get("claim") or "email")}
    found = await client.identify(
        metadata, token, client_id=client_id, nonce=pending.nonce, needed_claims=needed
    )
    person = found.person
    completion = Completion(tenant.id, name, tenant.slug, issuer, client_id, found.id_token, pending.next)
    signed_in = session_data(request).get("user_id")
    try:
        admission = await admit(
            db,
            actor_of(request, person.label),
            tenant,
            idp,
            person,
            invitation_token=pending.invitation,
            signed_in_user_id=uuid.UUID(signed_in) if signed_in else None,
        )
    except LinkNeeded as exc:
        return ask_to_confirm_link(request, person, completion, exc.email, pending.invitation)
    except SignInRefused as refusal:
        raise refusal.by(person.label, {"issuer": issuer, "subject": person.subject}) from None
    return Admitted(admission, completion)


def _provider_error(name: str, error: str, description: str | None) -> SignInRefused:
    described = (description or "").strip()[:300]
    reason = PROVIDER_WORDS.get(error, f"the identity provider answered {error[:100]}")
    return SignInRefused(
        "provider_error",
        f"You were not signed in to {name}: {reason}" + (f" ({described})." if described else "."),
        status_code=400,
        details={"error": error[:100], "error_description": described},
    )
