"""What the portal session keeps of a single sign-on: finishing one once the person is admitted,
the link waiting for confirmation, and signing out at the provider too (RP-initiated logout)."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from litestar import Request, Response
from litestar.plugins.flash import flash
from litestar.response import Redirect

from portal.identity.oidc.client import OidcClient, VerifiedPerson
from portal.identity.oidc.services import Admission
from portal.web.auth import AUTH_KEY, SSO_TENANTS_KEY, sso_auth
from portal.web.forms import safe_next
from portal.web.sessions import renew_session_id
from portal.web.state import PortalState

SSO_KEY = "sso"
LINK_KEY = "oidc_link_pending"
LINK_PATH = "/auth/link"
SIGNED_OUT_PATH = "/login?signed_out=true"


def portal_of(request: Request[Any, Any, Any]) -> PortalState:
    state: PortalState = request.app.state.portal
    return state


def session_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    value = request.scope.get("session")
    return dict(value) if isinstance(value, dict) else {}


def signed_out_url(request: Request[Any, Any, Any]) -> str:
    return f"{portal_of(request).settings.public_url}{SIGNED_OUT_PATH}"


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


def ask_to_confirm_link(
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


async def end_session_url(request: Request[Any, Any, Any]) -> str | None:
    """Where to send the browser so the provider ends its session too (RP-initiated logout), if it can."""
    sso = session_data(request).get(SSO_KEY)
    if not isinstance(sso, dict) or not sso.get("issuer"):
        return None
    portal = portal_of(request)
    client = OidcClient(portal.http, "", seconds=portal.settings.provider_test_timeout)
    return await client.end_session_url(
        str(sso["issuer"]),
        client_id=str(sso.get("client_id") or ""),
        id_token=str(sso["id_token"]) if sso.get("id_token") else None,
        post_logout_redirect_uri=signed_out_url(request),
    )
