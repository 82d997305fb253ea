"""Sign-in through a tenant's OpenID Provider: Authorization Code with PKCE (S256), state and nonce.

start_sign_in() keeps what the callback needs (state, nonce, PKCE verifier, where to go next, an
invitation token) in the server-side session, keyed by state, and sends the browser to the
provider. finish_sign_in() takes that entry out (single use: a replayed state finds nothing),
checks the response's `iss` (RFC 9207), exchanges the code, verifies the ID token, reads userinfo
where the ID token lacks what is needed, and lets the person in through portal.identity.oidc.services.
Every refusal is a page with the reason and an audit event; never a 500.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from litestar import Request, Response
from litestar.plugins.flash import flash
from litestar.response import Redirect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_object_session

from portal.audit import anonymous
from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.crypto.sealing import Undecryptable
from portal.db.models import IdentityProvider, Tenant
from portal.identity.federation.services import open_client_secret, redirect_url_for
from portal.identity.oidc.metadata import CACHE, DiscoveryError, ProviderMetadata
from portal.identity.oidc.services import Admission, LinkNeeded, SignInRefused, VerifiedPerson, admit
from portal.identity.oidc.tokens import IdTokenRejected, UnknownKeyId, accepted_algorithms, verify_id_token
from portal.net.egress import EgressRefused
from portal.web.auth import AUTH_KEY, SSO_TENANTS_KEY, sso_auth
from portal.web.forms import safe_next
from portal.web.sessions import renew_session_id
from portal.web.state import PortalState
from portal.web.templating import render

log = logging.getLogger("portal.identity.oidc")

PENDING_KEY = "oidc_pending"
SSO_KEY = "sso"
PENDING_TTL = 600  # seconds a started sign-in may take
MAX_PENDING = 5  # sign-ins started in one browser at once (several tabs)
SIGNED_OUT_PATH = "/login?signed_out=true"
OAUTH_TOKEN_ERRORS = frozenset(  # RFC 6749 section 5.2
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)


def _portal(request: Request[Any, Any, Any]) -> PortalState:
    return request.app.state.portal  # type: ignore[no-any-return]


def session_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    value = request.scope.get("session")
    return dict(value) if isinstance(value, dict) else {}


def signed_out_url(request: Request[Any, Any, Any]) -> str:
    return f"{_portal(request).settings.public_url}{SIGNED_OUT_PATH}"


def _actor(request: Request[Any, Any, Any], label: str = "anonymous") -> Actor:
    client = request.client.host if request.client else None
    return Actor(label=label, ip=client, user_agent=request.headers.get("user-agent"))


async def refuse(
    request: Request[Any, Any, Any],
    code: str,
    reason: str,
    *,
    db: AsyncSession | None = None,
    tenant_id: uuid.UUID | None = None,
    tenant_name: str | None = None,
    slug: str | None = None,
    who: str = "anonymous",
    status_code: int = 403,
    details: dict[str, Any] | None = None,
) -> Response[Any]:
    """The refusal page, and an audit event (outcome failure) in a transaction of its own.

    A refusal that names no person is anonymous (anyone can send a callback): for a tenant, the
    first of each kind in a window is audited and the rest counted in the log; without a tenant,
    it is only counted."""
    event = {"method": "oidc", "reason_code": code, "reason": reason[:500], **(details or {})}
    if who == "anonymous":
        anonymous.note(f"sso: {code}")
        throttle = _portal(request).throttle
        if tenant_id is None or not await throttle.first_in_window(f"sso:{tenant_id}:{code}"):
            return _refusal_page(request, code, reason, tenant_name, slug, status_code)
        event["later_ones"] = "counted in the log for 15 minutes"

    async def record(session: AsyncSession) -> None:
        await audit.record_alone(
            session,
            _actor(request, who),
            "auth.sign_in",
            tenant_id=tenant_id,
            target=f"user:{who}",
            outcome="failure",
            details=event,
        )

    try:
        if db is not None:
            await record(db)
        else:
            async with _portal(request).sessions() as own:
                await record(own)
    except Exception:  # the person still gets their page; the failure is logged
        log.exception("could not audit a refused sign-in (%s)", code)
    return _refusal_page(request, code, reason, tenant_name, slug, status_code)


def _refusal_page(
    request: Request[Any, Any, Any],
    code: str,
    reason: str,
    tenant_name: str | None,
    slug: str | None,
    status_code: int,
) -> Response[Any]:
    context = {"reason": reason, "code": code, "tenant_name": tenant_name, "retry_slug": slug}
    return render(request, "auth/refused.html", context, status_code=status_code)


async def idp_of(db: AsyncSession, tenant_id: uuid.UUID) -> IdentityProvider | None:
    return await db.scalar(select(IdentityProvider).where(IdentityProvider.tenant_id == tenant_id))


def unavailable_reason(name: str) -> str:
    return (
        f"{name} does not offer single sign-on on this portal (it is not set up, or switched off). "
        "Ask its administrators."
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
    async with _portal(request).sessions() as own:
        return await _start(request, own, tenant, next_url, invitation_token, login_hint)


async def _start(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    tenant: Tenant,
    next_url: str,
    invitation_token: str | None,
    login_hint: str | None,
) -> Response[Any]:
    portal = _portal(request)
    tenant_id, slug, name = tenant.id, tenant.slug, tenant.name
    wrapped_key = tenant.wrapped_data_key
    where = {"db": db, "tenant_id": tenant_id, "tenant_name": name, "slug": slug}
    idp = await idp_of(db, tenant_id)
    if idp is None or not idp.enabled:
        return await refuse(request, "sso_unavailable", unavailable_reason(name), status_code=404, **where)
    issuer, client_id, scopes = idp.issuer, idp.client_id, idp.scopes
    redirect_uri = redirect_url_for(portal.settings, idp)
    secret_problem = portal.vault.check_fields(
        wrapped_key, tenant_id=tenant_id, table="identity_providers", row_id=idp.id, sealed=idp.sealed_fields
    )
    if secret_problem:
        return await refuse(
            request,
            "secret_undecryptable",
            f"The single sign-on settings of {name} cannot be used: the client secret cannot be opened "
            f"({secret_problem}). Its administrators must enter the client secret again.",
            status_code=503,
            **where,
        )
    try:
        metadata = await CACHE.discovery(portal.http, issuer, seconds=portal.settings.provider_test_timeout)
    except DiscoveryError as exc:
        return await refuse(
            request,
            "discovery_failed",
            f"The identity provider of {name} cannot be used right now: {exc.reason}.",
            status_code=502,
            details={"issuer": issuer},
            **where,
        )
    state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
    pending = {
        key: entry
        for key, entry in session_data(request).get(PENDING_KEY, {}).items()
        if isinstance(entry, dict) and time.time() - float(entry.get("at", 0)) < PENDING_TTL
    }
    while len(pending) >= MAX_PENDING:
        pending.pop(next(iter(pending)))
    pending[state] = {
        "tenant_id": str(tenant_id),
        "issuer": issuer,
        "nonce": nonce,
        "verifier": verifier,
        "redirect_uri": redirect_uri,
        "next": safe_next(next_url, ""),
        "invitation": invitation_token,
        "at": time.time(),
    }
    request.set_session({**session_data(request), PENDING_KEY: pending})
    params: dict[str, str] = {
        "redirect_uri": redirect_uri,
        "scope": scopes,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if login_hint:
        params["login_hint"] = login_hint
    url = prepare_grant_uri(metadata.authorization_endpoint, client_id, "code", state=state, **params)
    return Redirect(url, status_code=303)


def _auth_method(metadata: ProviderMetadata) -> str | None:
    methods = metadata.token_endpoint_auth_methods
    if not methods or "client_secret_basic" in methods:
        return "client_secret_basic"
    if "client_secret_post" in methods:
        return "client_secret_post"
    return None


class TokenError(Exception):
    """The token endpoint refused the code (an OAuth error answer)."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.description = description


async def _exchange_code(
    portal: PortalState,
    metadata: ProviderMetadata,
    *,
    client_id: str,
    client_secret: str,
    method: str,
    code: str,
    redirect_uri: str,
    verifier: str,
) -> dict[str, Any]:
    """POST the code and the PKCE verifier to the token endpoint, authenticating the client
    (authlib's client_secret_basic / client_secret_post encoders) over the portal's HTTP client."""
    body = prepare_token_request(
        "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=verifier
    )
    headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
    url, headers, body = ClientAuth(client_id, client_secret, method).prepare(
        "POST", metadata.token_endpoint, headers, body
    )
    response = await portal.http.post(
        url, content=body, headers=headers, timeout=portal.settings.provider_test_timeout
    )
    answer = response.json()
    if not isinstance(answer, dict):
        raise ValueError("not a JSON object")
    if "error" in answer or response.status_code != 200:
        raise TokenError(
            str(answer.get("error") or f"HTTP {response.status_code}")[:100],
            str(answer.get("error_description") or "")[:200],
        )
    return answer


async def _userinfo(portal: PortalState, metadata: ProviderMetadata, access_token: str) -> dict[str, Any]:
    if not metadata.userinfo_endpoint or not access_token:
        return {}
    try:
        response = await portal.http.get(
            metadata.userinfo_endpoint,
            headers={"authorization": f"Bearer {access_token}", "accept": "application/json"},
            timeout=portal.settings.provider_test_timeout,
        )
        body = response.json() if response.status_code == 200 else {}
    except EgressRefused:
        raise  # a policy refusal is said, not taken for an empty answer
    except (httpx.HTTPError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _person(issuer: str, claims: dict[str, Any], userinfo: dict[str, Any]) -> VerifiedPerson:
    source = claims if isinstance(claims.get("email"), str) else userinfo
    email = source.get("email") if isinstance(source.get("email"), str) else None
    verified = source.get("email_verified")
    if isinstance(verified, str):  # some providers send "true"/"false"
        verified = verified.lower() == "true"
    merged = {**userinfo, **claims}
    name = merged.get("name") if isinstance(merged.get("name"), str) else ""
    return VerifiedPerson(
        issuer=issuer,
        subject=str(claims["sub"]),
        email=email.strip().lower() if email else None,
        email_verified=verified if isinstance(verified, bool) else None,
        name=str(name).strip(),
        claims=merged,
    )


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
    portal = _portal(request)
    session = session_data(request)
    pending = dict(session.get(PENDING_KEY) or {})
    entry = pending.pop(state, None) if state else None
    if state and entry is not None:
        request.set_session({**session, PENDING_KEY: pending})  # single use, whatever happens next
    if not isinstance(entry, dict):
        # Whatever else the query says (error, error_description) is not shown: without a sign-in
        # of this browser behind it, it may be anyone's text.
        return await refuse(
            request,
            "unknown_state",
            "This sign-in answer does not belong to a sign-in started in this browser, or it was used "
            "already. Start again from the sign-in page.",
            status_code=400,
            details={"error": (error or "")[:100]} if error else None,
        )
    if time.time() - float(entry.get("at", 0)) >= PENDING_TTL:
        return await refuse(
            request, "state_expired", "This sign-in took too long. Please start again.", status_code=400
        )

    async with portal.sessions() as db:
        tenant = await db.get(Tenant, uuid.UUID(entry["tenant_id"]))
        if tenant is None:
            return await refuse(
                request,
                "tenant_gone",
                "The organisation you were signing in to no longer exists.",
                db=db,
                status_code=404,
            )
        tenant_id, name, slug = tenant.id, tenant.name, tenant.slug
        where: dict[str, Any] = {"db": db, "tenant_id": tenant_id, "tenant_name": name, "slug": slug}
        if error:
            described = (error_description or "").strip()[:300]
            words = {"access_denied": "sign-in was cancelled or refused at the identity provider"}
            reason = words.get(error, f"the identity provider answered {error[:100]}")
            return await refuse(
                request,
                "provider_error",
                f"You were not signed in to {name}: {reason}" + (f" ({described})." if described else "."),
                status_code=400,
                details={"error": error[:100], "error_description": described},
                **where,
            )
        idp = await idp_of(db, tenant_id)
        if idp is None or not idp.enabled or idp.issuer != entry.get("issuer"):
            return await refuse(
                request, "sso_unavailable", unavailable_reason(name), status_code=404, **where
            )
        issuer, client_id = idp.issuer, idp.client_id
        if not code:
            return await refuse(
                request,
                "no_code",
                "The identity provider sent no sign-in code. Please start again.",
                status_code=400,
                **where,
            )
        try:
            metadata = await CACHE.discovery(
                portal.http, issuer, seconds=portal.settings.provider_test_timeout
            )
        except DiscoveryError as exc:
            return await refuse(
                request,
                "discovery_failed",
                f"The identity provider of {name} cannot be used right now: {exc.reason}.",
                status_code=502,
                **where,
            )
        if iss is not None and iss != metadata.issuer:
            return await refuse(
                request,
                "wrong_iss_parameter",
                f"The sign-in answer came from {iss[:200]!r}, not from {name}'s identity provider. "
                "Nothing was accepted; please start again.",
                status_code=400,
                details={"iss": iss[:200]},
                **where,
            )
        if iss is None and metadata.iss_parameter_supported:
            return await refuse(
                request,
                "missing_iss_parameter",
                f"The sign-in answer does not say which provider sent it, though {name}'s provider always "
                "does. Nothing was accepted; please start again.",
                status_code=400,
                **where,
            )
        method = _auth_method(metadata)
        if method is None:
            return await refuse(
                request,
                "no_client_auth",
                f"{name}'s identity provider supports neither client_secret_basic nor client_secret_post.",
                status_code=502,
                **where,
            )
        try:
            client_secret = open_client_secret(portal.vault, tenant, idp)
        except Undecryptable as exc:
            return await refuse(
                request,
                "secret_undecryptable",
                f"The single sign-on settings of {name} cannot be used: the client secret cannot be opened "
                f"({exc}). Its administrators must enter the client secret again.",
                status_code=503,
                **where,
            )
        try:
            token = await _exchange_code(
                portal,
                metadata,
                client_id=client_id,
                client_secret=client_secret,
                method=method,
                code=code,
                redirect_uri=str(entry["redirect_uri"]),
                verifier=str(entry["verifier"]),
            )
        except TokenError as exc:
            # The provider's own words (error_description, an unknown error code) go to the log
            # only: the token endpoint is a URL from a fetched document, and its answer is not echoed.
            log.info("token endpoint refused the code: %s %s", exc.error, exc.description)
            known = exc.error if exc.error in OAUTH_TOKEN_ERRORS else "an error"
            return await refuse(
                request,
                "code_refused",
                f"{name}'s identity provider did not accept the sign-in code ({known}). Please start again.",
                status_code=400,
                **where,
            )
        except EgressRefused as exc:
            return await refuse(
                request,
                "token_endpoint_refused",
                f"{name}'s identity provider names a token endpoint the portal may not call: {exc}.",
                status_code=502,
                **where,
            )
        except httpx.HTTPError as exc:
            return await refuse(
                request,
                "token_endpoint_unreachable",
                f"{name}'s identity provider could not be reached to finish the sign-in "
                f"({type(exc).__name__}). Please try again.",
                status_code=502,
                **where,
            )
        except (ValueError, TypeError):
            return await refuse(
                request,
                "token_unreadable",
                f"{name}'s identity provider answered unreadably.",
                status_code=502,
                **where,
            )
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            return await refuse(
                request,
                "no_id_token",
                f"{name}'s identity provider sent no ID token.",
                status_code=400,
                **where,
            )
        try:
            claims = await _verify(portal, metadata, id_token, client_id, str(entry["nonce"]), token)
        except IdTokenRejected as exc:
            return await refuse(
                request,
                exc.code,
                f"The sign-in was refused: {exc.reason}. Nothing was accepted.",
                status_code=400,
                details={"issuer": issuer},
                **where,
            )
        except DiscoveryError as exc:
            return await refuse(
                request,
                "jwks_unavailable",
                f"The identity provider's signing keys could not be fetched: {exc.reason}.",
                status_code=502,
                **where,
            )

        needed = {"email", str((idp.role_mapping or {}).get("claim") or "email")}
        userinfo: dict[str, Any] = {}
        if needed - set(claims):
            try:
                userinfo = await _userinfo(portal, metadata, str(token.get("access_token") or ""))
            except EgressRefused as exc:
                return await refuse(
                    request,
                    "userinfo_endpoint_refused",
                    f"{name}'s identity provider names a user info endpoint the portal may not call: {exc}.",
                    status_code=502,
                    **where,
                )
            if userinfo.get("sub") != claims["sub"]:
                userinfo = {}  # a userinfo answer about someone else is ignored (OIDC Core 5.3.2)
        person = _person(issuer, claims, userinfo)
        signed_in = session.get("user_id")
        try:
            admission = await admit(
                db,
                _actor(request, person.label),
                tenant,
                idp,
                person,
                invitation_token=entry.get("invitation") or None,
                signed_in_user_id=uuid.UUID(signed_in) if signed_in else None,
            )
        except LinkNeeded as exc:
            completion = Completion(
                tenant_id, name, slug, issuer, client_id, id_token, str(entry.get("next") or "")
            )
            return _ask_to_confirm_link(request, person, completion, exc.email, entry.get("invitation"))
        except SignInRefused as exc:
            return await refuse(
                request,
                exc.code,
                exc.reason,
                status_code=exc.status_code,
                who=person.label,
                details={"issuer": issuer, "subject": person.subject},
                **where,
            )
    completion = Completion(tenant_id, name, slug, issuer, client_id, id_token, str(entry.get("next") or ""))
    return await complete_sign_in(request, admission, completion)


@dataclass(frozen=True)
class Completion:
    """What finishing a sign-in needs once the person is admitted."""

    tenant_id: uuid.UUID
    tenant_name: str
    slug: str
    issuer: str
    client_id: str
    id_token: str
    next: str

    def as_session(self) -> dict[str, str]:
        return {**{k: str(v) for k, v in asdict(self).items()}}

    @classmethod
    def from_session(cls, raw: dict[str, Any]) -> Completion:
        return cls(**{**raw, "tenant_id": uuid.UUID(str(raw["tenant_id"]))})


LINK_KEY = "oidc_link_pending"
LINK_PATH = "/auth/link"


def _ask_to_confirm_link(
    request: Request[Any, Any, Any],
    person: VerifiedPerson,
    done: Completion,
    email: str,
    invitation: str | None,
) -> Response[Any]:
    """Keep what the provider vouched for until the signed-in person confirms the link (POST)."""
    pending = {
        "person": {
            "issuer": person.issuer,
            "subject": person.subject,
            "email": person.email,
            "email_verified": person.email_verified,
            "name": person.name,
            "claims": person.claims,
        },
        "completion": done.as_session(),
        "email": email,
        "invitation": invitation,
        "user_id": session_data(request).get("user_id"),
        "at": time.time(),
    }
    request.set_session({**session_data(request), LINK_KEY: pending})
    return Redirect(LINK_PATH, status_code=303)


async def complete_sign_in(
    request: Request[Any, Any, Any], admission: Admission, done: Completion
) -> Response[Any]:
    """A new session id, authenticated by the tenant's provider (never platform rights), and home."""
    session = session_data(request)
    # The session reaches the tenants whose providers signed this person in (see web.auth._reachable).
    same_person = session.get("user_id") == str(admission.user_id)
    earlier = session.get(SSO_TENANTS_KEY) if same_person else None
    tenant_id = str(done.tenant_id)
    signed_in_to = [t for t in (earlier or []) if t != tenant_id] + [tenant_id]
    await renew_session_id(request)
    request.set_session(
        {
            "user_id": str(admission.user_id),
            "tenant_id": tenant_id,
            AUTH_KEY: sso_auth(done.issuer),
            SSO_TENANTS_KEY: signed_in_to,
            SSO_KEY: {
                "tenant_id": tenant_id,
                "issuer": done.issuer,
                "client_id": done.client_id,
                "id_token": done.id_token,
            },
        }
    )
    joined = {"invitation": " Welcome: your invitation is accepted.", "jit": " Welcome aboard."}.get(
        admission.via, ""
    )
    flash(
        request,
        f"Signed in to {done.tenant_name} as {admission.email} ({admission.role}).{joined}",
        "success",
    )
    return Redirect(safe_next(done.next, f"/t/{done.slug}"), status_code=303)


async def _verify(
    portal: PortalState,
    metadata: ProviderMetadata,
    id_token: str,
    client_id: str,
    nonce: str,
    token: dict[str, Any],
) -> dict[str, Any]:
    """Verify against the cached JWKS; on an unknown key id, refetch the JWKS once and try again."""
    timeout = portal.settings.provider_test_timeout
    algorithms = accepted_algorithms(metadata.signing_algs)
    checks: dict[str, Any] = {
        "issuer": metadata.issuer,
        "client_id": client_id,
        "nonce": nonce,
        "algorithms": algorithms,
        "access_token": token.get("access_token") if isinstance(token.get("access_token"), str) else None,
    }
    jwks = await CACHE.jwks(portal.http, metadata.jwks_uri, seconds=timeout)
    try:
        return verify_id_token(id_token, jwks, **checks)
    except UnknownKeyId:
        jwks = await CACHE.jwks(portal.http, metadata.jwks_uri, seconds=timeout, force=True)
    try:
        return verify_id_token(id_token, jwks, **checks)
    except UnknownKeyId:
        raise IdTokenRejected(
            "unknown_kid",
            "the ID token is signed with a key the provider does not publish, "
            "even after fetching its keys again",
        ) from None


async def end_session_url(request: Request[Any, Any, Any]) -> str | None:
    """Where to send the browser so the provider ends its session too (RP-initiated logout), if it can."""
    sso = session_data(request).get(SSO_KEY)
    if not isinstance(sso, dict) or not sso.get("issuer"):
        return None
    portal = _portal(request)
    try:
        metadata = await CACHE.discovery(
            portal.http, str(sso["issuer"]), seconds=portal.settings.provider_test_timeout
        )
    except DiscoveryError:
        return None
    if not metadata.end_session_endpoint:
        return None
    params = {
        "post_logout_redirect_uri": signed_out_url(request),
        "client_id": str(sso.get("client_id") or ""),
    }
    if sso.get("id_token"):
        params["id_token_hint"] = str(sso["id_token"])
    return str(add_params_to_uri(metadata.end_session_endpoint, params))
