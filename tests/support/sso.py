"""Helpers for single sign-on tests: tenants wired to the Python demo OpenID Provider, and a sign-in
driven like a browser would (portal in-process, provider over real loopback HTTP)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from portal.demo.identity_provider import AUTHORIZE_FIELDS, DemoClient, DemoIdentityProvider, DemoUser
from tests.support.api import TENANTS, new_tenant
from tests.support.signin import csrf_from

PUBLIC_URL = "http://127.0.0.1:8000"  # the default PUBLIC_URL of the test settings
CALLBACK = f"{PUBLIC_URL}/auth/callback"
SIGNED_OUT = f"{PUBLIC_URL}/login?signed_out=true"

USERS = (
    DemoUser("sub-alice", "alice@a.example", "Alice Admin", groups=("portal-admins", "staff")),
    DemoUser("sub-bob", "bob@a.example", "Bob Member", groups=("staff",)),
    DemoUser("sub-carol", "carol@elsewhere.example", "Carol Outsider"),
    DemoUser("sub-dave", "dave@a.example", "Dave Duplicate"),
    DemoUser("sub-erin", "erin@b.example", "Erin Invited"),
    DemoUser("sub-frank", "frank@a.example", "Frank Unverified", email_verified=False),
)


@dataclass(frozen=True)
class SsoTenant:
    id: str
    slug: str
    name: str
    client_id: str
    client_secret: str


def federation_url(tenant_id: str) -> str:
    return f"{TENANTS}/{tenant_id}/federation"


async def sso_tenant(
    api: httpx.AsyncClient,
    idp: DemoIdentityProvider,
    *,
    jit: bool = False,
    domains: tuple[str, ...] = ("a.example",),
    role_mapping: dict[str, Any] | None = None,
    scopes: str = "openid profile email groups",
    name: str = "SSO tenant",
) -> SsoTenant:
    """A new tenant whose identity provider is `idp`, with a client of its own registered there."""
    tenant = await new_tenant(api, name=f"{name} {uuid.uuid4().hex[:6]}")
    client = DemoClient(
        client_id=f"portal-{tenant['slug']}",
        client_secret=secrets.token_urlsafe(24),
        redirect_uris=[CALLBACK],
        post_logout_redirect_uris=[SIGNED_OUT],
        name=tenant["name"],
    )
    idp.add_client(client)
    body = {
        "issuer": idp.issuer,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "scopes": scopes,
        "allowed_domains": list(domains),
        "jit_provisioning": jit,
        "role_mapping": role_mapping
        if role_mapping is not None
        else {"claim": "groups", "admin_values": ["portal-admins"]},
    }
    response = await api.put(federation_url(tenant["id"]), json=body)
    assert response.status_code == 200, response.text
    return SsoTenant(tenant["id"], tenant["slug"], tenant["name"], client.client_id, client.client_secret)


async def authorize_at_provider(idp: DemoIdentityProvider, authorize_url: str, subject: str | None) -> str:
    """What the person does at the provider: open its page, pick a user (or cancel). Returns the
    callback URL the provider sends the browser back to."""
    assert authorize_url.startswith(idp.issuer + "/authorize?"), authorize_url
    async with httpx.AsyncClient() as browser:
        page = await browser.get(authorize_url)
        assert page.status_code == 200, page.text
        params = dict(parse_qsl(urlsplit(authorize_url).query))
        form = {k: params[k] for k in AUTHORIZE_FIELDS if k in params}
        form.update({"subject": subject} if subject else {"deny": "1"})
        decided = await browser.post(f"{idp.issuer}/authorize", data=form)
    assert decided.status_code == 302, decided.text
    return decided.headers["location"]


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def start(client: httpx.AsyncClient, slug: str) -> str:
    """Open the tenant's sign-in link; signed in already, press its Continue button (a POST)."""
    response = await client.get(f"/t/{slug}/login")
    if response.status_code == 200 and 'id="sso-start"' in response.text:
        response = await client.post(f"/t/{slug}/login", data={"_csrf_token": csrf_from(response.text)})
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def sso_sign_in(
    client: httpx.AsyncClient, idp: DemoIdentityProvider, slug: str, subject: str | None
) -> httpx.Response:
    """The whole round trip: the portal's sign-in link, the provider's page, the callback."""
    callback = await authorize_at_provider(idp, await start(client, slug), subject)
    assert callback.startswith(CALLBACK + "?"), callback
    return await client.get(local(callback))


def person(
    idp: DemoIdentityProvider,
    domain: str = "a.example",
    *,
    groups: tuple[str, ...] = (),
    verified: bool = True,
    name: str = "",
) -> DemoUser:
    """A new person known to the provider (unique subject and e-mail), for a test of their own."""
    tag = uuid.uuid4().hex[:8]
    user = DemoUser(
        f"sub-{tag}", f"p{tag}@{domain}", name or f"Person {tag}", groups=groups, email_verified=verified
    )
    idp.users[user.subject] = user
    return user
