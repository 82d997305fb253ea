"""The takeover chain a hostile tenant admin tried (issue 7, critical): re-point the tenant's single
sign-on at a provider they control, have a signed-in platform admin open one link, get the
platform admin's e-mail vouched for, and come back as platform admin. Every step must fail."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import pytest
from litestar import Litestar

from portal.demo.identity_provider import DemoClient, DemoIdentityProvider, DemoUser
from tests.support.api import TENANTS, credentials_url, new_tenant
from tests.support.apps import client_for
from tests.support.env import CANARY
from tests.support.factories import Factory
from tests.support.rows import identities_of
from tests.support.signin import csrf_from, password_step
from tests.support.sso import (
    CALLBACK,
    SIGNED_OUT,
    authorize_at_provider,
    federation_url,
    local,
    person,
    sso_sign_in,
    sso_tenant,
)

pytestmark = pytest.mark.usefixtures("app")


@pytest.fixture(scope="module")
def honest() -> Iterator[DemoIdentityProvider]:
    with DemoIdentityProvider([], title="Honest provider") as provider:
        yield provider


@pytest.fixture(scope="module")
def hostile() -> Iterator[DemoIdentityProvider]:
    with DemoIdentityProvider([], title="Hostile provider") as provider:
        yield provider


async def _hostile_tenant_admin(api, app: Litestar, honest: DemoIdentityProvider):
    """A tenant whose admin signed in through its (honest) provider; returns the tenant and the
    admin's signed-in client."""
    tenant = await sso_tenant(api, honest, jit=True, name="Hostile")
    mallory = person(honest, groups=("portal-admins",), name="Mallory")
    client = client_for(app)
    assert (await sso_sign_in(client, honest, tenant.slug, mallory.subject)).status_code == 303
    return tenant, client


async def _repoint(client, tenant, hostile: DemoIdentityProvider, domains: list[str]) -> None:
    """The tenant admin's own, permitted change: their provider is now one they control."""
    registered = DemoClient(
        client_id=f"evil-{tenant.slug}",
        client_secret=secrets.token_urlsafe(24),
        redirect_uris=[CALLBACK],
        post_logout_redirect_uris=[SIGNED_OUT],
        name="evil",
    )
    hostile.add_client(registered)
    page = await client.get(f"/t/{tenant.slug}")
    client.headers["x-csrftoken"] = client.cookies["portal_csrf"]
    assert page.status_code == 200
    changed = await client.put(
        federation_url(tenant.id),
        json={
            "issuer": hostile.issuer,
            "client_id": registered.client_id,
            "client_secret": registered.client_secret,
            "allowed_domains": domains,
            "jit_provisioning": True,
            "emails_verified": True,
        },
    )
    assert changed.status_code == 200, changed.text


async def test_a_hostile_tenant_admin_cannot_become_platform_admin(api, app, honest, hostile):
    victim = await new_tenant(api, name="Victim")
    stored = await api.put(credentials_url(victim, "openai"), json={"api_key": CANARY})
    assert stored.status_code == 200, stored.text
    tenant, mallory = await _hostile_tenant_admin(api, app, honest)
    admin_user = await Factory.of_app(app).platform_admin()
    admin_email = admin_user.email
    domain = admin_email.rsplit("@", 1)[1]
    await _repoint(mallory, tenant, hostile, [domain])
    # The hostile provider vouches, "verified", for the platform admin's e-mail.
    forged = DemoUser(f"sub-{uuid.uuid4().hex[:8]}", admin_email, "Forged admin", email_verified=True)
    hostile.users[forged.subject] = forged

    async with client_for(app) as admin:
        assert (await password_step(admin, admin_email)).status_code == 303
        assert (await admin.get("/admin/tenants")).status_code == 200
        # 1. The link the attacker sends: a signed-in session is not taken to the provider by a GET.
        opened = await admin.get(f"/t/{tenant.slug}/login")
        assert opened.status_code == 200 and 'id="sso-start"' in opened.text
        assert "location" not in opened.headers
        # 2. Even if the admin presses Continue, the provider's answer never reaches their account.
        started = await admin.post(f"/t/{tenant.slug}/login", data={"_csrf_token": csrf_from(opened.text)})
        assert started.status_code == 303
        callback = await authorize_at_provider(hostile, started.headers["location"], forged.subject)
        refused = await admin.get(local(callback))
        assert refused.status_code == 403 and "platform admin" in refused.text
        assert await identities_of(app, admin_email) == []
        assert (await admin.get("/admin/tenants")).status_code == 200  # still their own session

    # 3. The attacker signing in through their provider as the admin's e-mail gets nothing.
    async with client_for(app) as attacker:
        response = await sso_sign_in(attacker, hostile, tenant.slug, forged.subject)
        assert response.status_code == 403
        assert await identities_of(app, admin_email) == []
        assert (await attacker.get("/admin/tenants")).status_code == 303

    # 4. Defence in depth: an identity linked by the old code still gives no platform rights.
    await Factory.of_app(app).identity(admin_user, hostile.issuer, forged.subject)
    async with client_for(app) as attacker:
        signed_in = await sso_sign_in(attacker, hostile, tenant.slug, forged.subject)
        assert signed_in.status_code == 303, signed_in.text  # a member of the hostile tenant, no more
        token = attacker.cookies["portal_csrf"]
        assert (await attacker.get("/admin/tenants")).status_code == 403
        assert (await attacker.get(TENANTS)).status_code == 403
        assert (await attacker.get(credentials_url(victim))).status_code == 404
        assert (await attacker.get(f"/t/{victim['slug']}")).status_code == 404
        started = await attacker.post(
            "/api/v1/admin/impersonate",
            json={"tenant_id": victim["id"], "reason": "takeover"},
            headers={"x-csrftoken": token},
        )
        assert started.status_code == 403
        for answer in (await attacker.get(credentials_url(victim)), await attacker.get("/admin/tenants")):
            assert CANARY not in answer.text
    await mallory.aclose()


async def test_a_new_sign_in_never_attaches_to_an_account_by_email_alone(api, app, honest):
    tenant = await sso_tenant(api, honest, jit=True, name="Attach")
    someone = person(honest)
    async with client_for(app) as first:
        assert (await sso_sign_in(first, honest, tenant.slug, someone.subject)).status_code == 303
    # The same e-mail from another provider (another tenant's), with nobody signed in: refused.
    with DemoIdentityProvider([someone], title="Other provider") as other_idp:
        other = await sso_tenant(api, other_idp, jit=True, name="Attach other")
        async with client_for(app) as stranger:
            refused = await sso_sign_in(stranger, other_idp, other.slug, someone.subject)
            assert refused.status_code == 403 and "exists already here" in refused.text
        assert await identities_of(app, someone.email) == [(honest.issuer, someone.subject)]


async def test_a_provider_session_of_a_platform_admin_account_has_tenant_rights_only(api, app, honest):
    """Even an identity that does belong to a platform admin's account (linked before this rule)
    signs in with the tenant's rights only: platform rights need the password and second factor."""
    admin_user = await Factory.of_app(app).platform_admin()
    admin_email = admin_user.email
    domain = admin_email.rsplit("@", 1)[1]
    tenant = await sso_tenant(api, honest, jit=True, domains=(domain,), name="Admin's own")
    subject = f"sub-{uuid.uuid4().hex[:8]}"
    await Factory.of_app(app).identity(admin_user, honest.issuer, subject)
    honest.users[subject] = DemoUser(subject, admin_email, "Admin", email_verified=True)
    async with client_for(app) as client:
        assert (await sso_sign_in(client, honest, tenant.slug, subject)).status_code == 303
        assert (await client.get(f"/t/{tenant.slug}")).status_code == 200
        assert (await client.get("/admin/tenants")).status_code == 403
        assert (await client.get(TENANTS)).status_code == 403
    async with client_for(app) as client:
        assert (await password_step(client, admin_email)).status_code == 303
        assert (await client.get("/admin/tenants")).status_code == 200
