"""Single sign-on through a tenant's OpenID Provider (the Python demo provider, on loopback)."""

from __future__ import annotations

import contextlib
import html
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from litestar.serialization import decode_json, encode_json
from sqlalchemy import update

from portal.db.models import IdentityProvider
from portal.demo.identity_provider import DemoIdentityProvider, DemoUser
from portal.web.sessions import SESSION_COOKIE, SESSION_STORE
from tests.support.api import new_tenant
from tests.support.apps import client_for
from tests.support.factories import Factory, token_of
from tests.support.rows import audit_rows, identities_of, membership_role, user_by_email
from tests.support.servers import closed_port
from tests.support.signin import csrf_from, csrf_token
from tests.support.sso import (
    CALLBACK,
    SIGNED_OUT,
    USERS,
    SsoTenant,
    authorize_at_provider,
    federation_url,
    local,
    person,
    sso_sign_in,
    sso_tenant,
    start,
)


@pytest.fixture(scope="session")
def idp() -> Iterator[DemoIdentityProvider]:
    with DemoIdentityProvider(USERS, title="Test provider") as provider:
        yield provider


@pytest.fixture(autouse=True)
def well_behaved(idp: DemoIdentityProvider) -> Iterator[None]:
    idp.misbehaviour.clear()
    yield
    idp.misbehaviour.clear()


async def test_jit_admin_by_role_mapping(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    alice = person(idp, groups=("portal-admins",), name="Alice Admin")
    before = anon.cookies.get("portal_session")
    response = await sso_sign_in(anon, idp, tenant.slug, alice.subject)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/t/{tenant.slug}"
    assert anon.cookies.get("portal_session") not in (None, before)
    page = await anon.get(f"/t/{tenant.slug}")
    assert page.status_code == 200
    assert "Alice Admin" in page.text and alice.email in page.text
    assert f"Acting in {tenant.name}" in page.text
    assert await membership_role(app, alice.email, tenant.id) == "admin"
    assert await identities_of(app, alice.email) == [(idp.issuer, alice.subject)]
    events = await audit_rows(app, tenant.id)
    assert [e.action for e in events][-2:] == ["membership.provisioned", "auth.sign_in"]
    assert events[-1].outcome == "success" and events[-1].details["via"] == "jit"


async def test_jit_member_without_admin_group_and_what_a_member_may_not_do(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    bob = person(idp, groups=("staff",))
    assert (await sso_sign_in(anon, idp, tenant.slug, bob.subject)).status_code == 303
    assert await membership_role(app, bob.email, tenant.id) == "member"
    assert (await anon.get(f"/t/{tenant.slug}/sso")).status_code == 403
    other = await sso_tenant(api, idp)
    assert (await anon.get(f"/t/{other.slug}")).status_code == 404


async def test_a_known_member_signs_in_again_by_issuer_and_subject(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    dave = person(idp)
    assert (await sso_sign_in(anon, idp, tenant.slug, dave.subject)).status_code == 303
    async with client_for(app) as again:
        response = await sso_sign_in(again, idp, tenant.slug, dave.subject)
        assert response.status_code == 303
    events = await audit_rows(app, tenant.id, action="auth.sign_in")
    assert [e.details["via"] for e in events] == ["jit", "member"]
    assert await identities_of(app, dave.email) == [(idp.issuer, dave.subject)]


async def test_not_a_member_is_refused_and_nothing_is_created(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=False)
    stranger = person(idp)
    response = await sso_sign_in(anon, idp, tenant.slug, stranger.subject)
    assert response.status_code == 403
    assert f"You are not a member of {tenant.name}" in response.text
    assert "not_a_member" in response.text
    assert await user_by_email(app, stranger.email) is None
    assert (await anon.get(f"/t/{tenant.slug}")).status_code == 303  # still signed out: off to /login
    refused = (await audit_rows(app, tenant.id, action="auth.sign_in"))[-1]
    assert refused.outcome == "failure" and refused.details["reason_code"] == "not_a_member"
    assert refused.actor == stranger.email


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ({"domain": "elsewhere.example"}, "People with @elsewhere.example addresses cannot join"),
        ({"verified": False}, "is not verified"),
    ],
    ids=["domain_not_allowed", "unverified_email"],
)
async def test_jit_refuses(api, anon, app, idp, who, reason):
    tenant = await sso_tenant(api, idp, jit=True, domains=("a.example",))
    refused = person(idp, **who)
    response = await sso_sign_in(anon, idp, tenant.slug, refused.subject)
    assert response.status_code == 403
    assert reason in response.text
    assert await user_by_email(app, refused.email) is None


async def test_email_and_groups_read_from_userinfo_when_the_id_token_lacks_them(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    admin = person(idp, groups=("portal-admins",))
    idp.misbehaviour.add("email_only_in_userinfo")
    seen = len(idp.requests)
    assert (await sso_sign_in(anon, idp, tenant.slug, admin.subject)).status_code == 303
    assert ("GET", "/userinfo") in idp.requests[seen:]
    assert await membership_role(app, admin.email, tenant.id) == "admin"


async def test_never_identified_by_email_alone(api, anon, app, idp, make):
    """An account with the same e-mail, and a membership, does not let another identity in."""
    tenant = await sso_tenant(api, idp, jit=False)
    twin = person(idp)
    await make.membership(await make.user(twin.email, "The real one"), tenant.id, "admin")
    response = await sso_sign_in(anon, idp, tenant.slug, twin.subject)
    assert response.status_code == 403
    assert "not a member" in response.text
    assert await identities_of(app, twin.email) == []


@contextlib.asynccontextmanager
async def _signed_in_through_another_provider(
    api: httpx.AsyncClient, anon: httpx.AsyncClient, idp: DemoIdentityProvider, title: str
) -> AsyncIterator[tuple[SsoTenant, DemoUser, DemoIdentityProvider]]:
    """A tenant of `idp` (JIT on) and one of its people, as whom `anon` signed in through a second
    provider (another tenant's) that vouches for the same e-mail."""
    tenant = await sso_tenant(api, idp, jit=True)
    someone = person(idp)
    with DemoIdentityProvider([someone], title=title) as second:
        other = await sso_tenant(api, second, jit=True)
        assert (await sso_sign_in(anon, second, other.slug, someone.subject)).status_code == 303
        yield tenant, someone, second


async def test_an_account_with_that_email_is_linked_only_when_its_session_confirms(api, anon, app, idp):
    # The same e-mail arrives through another issuer: a second provider of another tenant.
    linked_elsewhere = _signed_in_through_another_provider(api, anon, idp, "Second provider")
    async with linked_elsewhere as (tenant, first_idp_person, second):
        async with client_for(app) as fresh:
            refused = await sso_sign_in(fresh, idp, tenant.slug, first_idp_person.subject)
            assert refused.status_code == 403
            assert "exists already here" in refused.text
        # Signed in to that account (through the second provider): nothing is linked until it confirms.
        asked = await sso_sign_in(anon, idp, tenant.slug, first_idp_person.subject)
        assert asked.status_code == 303 and asked.headers["location"] == "/auth/link", asked.text
        assert await identities_of(app, first_idp_person.email) == [(second.issuer, first_idp_person.subject)]
        page = await anon.get("/auth/link")
        assert page.status_code == 200 and idp.issuer in page.text and first_idp_person.email in page.text
        # A cross-site POST without the token does nothing.
        forged = await anon.post("/auth/link", data={})
        assert forged.status_code == 403
        linked = await anon.post("/auth/link", data={"_csrf_token": csrf_from(page.text)})
        assert linked.status_code == 303, linked.text
        assert sorted(await identities_of(app, first_idp_person.email)) == sorted(
            [(idp.issuer, first_idp_person.subject), (second.issuer, first_idp_person.subject)]
        )
        assert (await anon.get(f"/t/{tenant.slug}")).status_code == 200
        # Used once: the confirmation is gone.
        assert (await anon.post("/auth/link", data={"_csrf_token": csrf_from(page.text)})).status_code == 400
        events = await audit_rows(app, tenant.id, action="identity.linked")
        assert [e.details["issuer"] for e in events] == [idp.issuer]


async def test_linking_needs_a_fresh_sign_in_of_the_account(api, anon, app, idp):
    stale = _signed_in_through_another_provider(api, anon, idp, "Stale provider")
    async with stale as (tenant, someone, second):
        store = app.stores.get(SESSION_STORE)
        session_id = anon.cookies[SESSION_COOKIE]
        data = decode_json(await store.get(session_id))
        data["auth"]["at"] -= 3600  # signed in an hour ago
        await store.set(session_id, encode_json(data), expires_in=3600)
        asked = await sso_sign_in(anon, idp, tenant.slug, someone.subject)
        assert asked.headers["location"] == "/auth/link"
        page = await anon.get("/auth/link")
        assert "sign in again" in page.text and 'action="/auth/link"' not in page.text
        refused = await anon.post("/auth/link", data={"_csrf_token": csrf_from(page.text)})
        assert refused.status_code == 403 and "within the last 10 minutes" in refused.text
        assert await identities_of(app, someone.email) == [(second.issuer, someone.subject)]


async def test_a_missing_email_verified_is_unverified_unless_the_provider_is_trusted(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    someone = person(idp)
    idp.misbehaviour.add("no_email_verified")
    refused = await sso_sign_in(anon, idp, tenant.slug, someone.subject)
    assert refused.status_code == 403 and "did not say" in html.unescape(refused.text)
    assert await user_by_email(app, someone.email) is None
    current = (await api.get(federation_url(tenant.id))).json()
    trusted = await api.put(
        federation_url(tenant.id),
        json={
            "issuer": current["issuer"],
            "client_id": current["client_id"],
            "allowed_domains": current["allowed_domains"],
            "jit_provisioning": True,
            "emails_verified": True,
        },
    )
    assert trusted.status_code == 200 and trusted.json()["emails_verified"] is True
    assert (await sso_sign_in(anon, idp, tenant.slug, someone.subject)).status_code == 303
    assert await user_by_email(app, someone.email) is not None


REFUSED_TOKENS = {
    "bad_signature": "signature does not verify",
    "alg_none": "is not signed (alg: none)",
    "wrong_iss": "was issued by 'https://impostor.example'",
    "wrong_aud": "issued to another client",
    "expired": "has expired",
    "no_nonce": "carries no nonce",
    "wrong_nonce": "nonce does not match this sign-in",
    "unknown_kid": "does not publish, even after fetching its keys again",
    "no_sub": "names no subject (sub)",
}


@pytest.mark.parametrize("misbehaviour", list(REFUSED_TOKENS))
async def test_id_token_refused(api, anon, app, idp, misbehaviour):
    tenant = await sso_tenant(api, idp, jit=True)
    someone = person(idp, groups=("portal-admins",))
    idp.misbehaviour.add(misbehaviour)
    seen = len(idp.requests)
    response = await sso_sign_in(anon, idp, tenant.slug, someone.subject)
    assert response.status_code == 400, response.text
    assert "You were not signed in" in response.text
    assert REFUSED_TOKENS[misbehaviour] in html.unescape(response.text)
    assert await user_by_email(app, someone.email) is None
    assert (await anon.get(f"/t/{tenant.slug}")).status_code == 303
    refused = (await audit_rows(app, tenant.id, action="auth.sign_in"))[-1]
    assert refused.outcome == "failure"
    if misbehaviour == "unknown_kid":
        assert refused.details["reason_code"] == "unknown_kid"
        assert idp.requests[seen:].count(("GET", "/jwks")) >= 1  # fetched again before giving up


async def test_unknown_kid_is_refetched_once_and_then_refused(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    someone = person(idp)
    assert (await sso_sign_in(anon, idp, tenant.slug, someone.subject)).status_code == 303  # JWKS cached
    idp.misbehaviour.add("unknown_kid")
    seen = len(idp.requests)
    async with client_for(app) as fresh:
        response = await sso_sign_in(fresh, idp, tenant.slug, someone.subject)
    assert response.status_code == 400
    assert idp.requests[seen:].count(("GET", "/jwks")) == 1


async def test_a_rotated_signing_key_is_picked_up_by_refetching_the_jwks(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    someone = person(idp)
    assert (await sso_sign_in(anon, idp, tenant.slug, someone.subject)).status_code == 303
    idp.rotate_key()
    async with client_for(app) as fresh:
        response = await sso_sign_in(fresh, idp, tenant.slug, someone.subject)
    assert response.status_code == 303, response.text


async def test_callback_with_an_error_parameter(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    someone = person(idp)
    response = await sso_sign_in(anon, idp, tenant.slug, None)  # "Cancel" at the provider
    assert response.status_code == 400
    assert "sign-in was cancelled or refused at the identity provider (the user cancelled)" in response.text
    refused = (await audit_rows(app, tenant.id, action="auth.sign_in"))[-1]
    assert refused.details["reason_code"] == "provider_error" and refused.details["error"] == "access_denied"
    assert await user_by_email(app, someone.email) is None


async def test_anonymous_refusals_for_a_tenant_are_audited_once_per_window(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    for _ in range(3):
        assert (await sso_sign_in(anon, idp, tenant.slug, None)).status_code == 400  # "Cancel"
    refused = await audit_rows(app, tenant.id, action="auth.sign_in", outcome="failure")
    assert [e.details["reason_code"] for e in refused] == ["provider_error"]


async def test_callback_error_without_a_known_state_is_a_clear_page(anon):
    response = await anon.get("/auth/callback?error=server_error&error_description=boom&state=nope")
    assert response.status_code == 400
    assert "does not belong to a sign-in started in this browser" in response.text
    assert "boom" not in response.text  # text of unknown origin is not shown


async def test_the_iss_parameter_must_name_the_tenants_provider(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    someone = person(idp)
    idp.misbehaviour.add("wrong_iss_param")
    response = await sso_sign_in(anon, idp, tenant.slug, someone.subject)
    assert response.status_code == 400
    assert "The sign-in answer came from 'https://mix-up.example'" in html.unescape(response.text)


async def test_a_missing_iss_parameter_is_refused_where_the_provider_always_sends_it(api, anon, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    someone = person(idp)
    callback = await authorize_at_provider(idp, await start(anon, tenant.slug), someone.subject)
    without_iss = re.sub(r"&?iss=[^&]*", "", local(callback))
    response = await anon.get(without_iss)
    assert response.status_code == 400
    assert "does not say which provider sent it" in response.text


async def test_a_replayed_state_is_refused(api, anon, app, idp, captured_logs):
    from portal.audit import anonymous

    tenant = await sso_tenant(api, idp, jit=True)
    someone = person(idp)
    callback = await authorize_at_provider(idp, await start(anon, tenant.slug), someone.subject)
    assert (await anon.get(local(callback))).status_code == 303
    anonymous.flush()
    before = len(await audit_rows(app, action="auth.sign_in"))
    replayed = await anon.get(local(callback))
    assert replayed.status_code == 400
    assert "or it was used already" in replayed.text
    # Anyone can send a callback: a refusal that names neither person nor tenant is counted in the
    # log, not audited one row each.
    assert len(await audit_rows(app, action="auth.sign_in")) == before
    anonymous.flush()
    assert any("sso: unknown_state: 1" in r.getMessage() for r in captured_logs.records)


async def test_a_state_from_another_browser_is_refused(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    someone = person(idp)
    callback = await authorize_at_provider(idp, await start(anon, tenant.slug), someone.subject)
    async with client_for(app) as attacker:
        response = await attacker.get(local(callback))
    assert response.status_code == 400
    assert await user_by_email(app, someone.email) is None


async def test_sign_out_ends_the_session_and_calls_the_providers_end_session(api, anon, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    someone = person(idp)
    assert (await sso_sign_in(anon, idp, tenant.slug, someone.subject)).status_code == 303
    token = csrf_from((await anon.get(f"/t/{tenant.slug}")).text)
    response = await anon.post("/logout", data={"_csrf_token": token})
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{idp.issuer}/logout"
    params = dict(parse_qsl(target.query))
    assert params["post_logout_redirect_uri"] == SIGNED_OUT
    assert params["client_id"] == tenant.client_id and params["id_token_hint"].count(".") == 2
    async with httpx.AsyncClient() as browser:
        back = await browser.get(response.headers["location"])
    assert back.status_code == 302 and back.headers["location"] == SIGNED_OUT
    assert (await anon.get(f"/t/{tenant.slug}")).status_code == 303  # signed out of the portal


async def test_login_routes_by_email_domain(api, anon, idp):
    domain = f"route-{uuid.uuid4().hex[:6]}.example"
    tenant = await sso_tenant(api, idp, domains=(domain,))
    token = await csrf_token(anon)
    response = await anon.post("/login/sso", data={"sso_email": f"Someone@{domain}", "_csrf_token": token})
    assert response.status_code == 303
    params = dict(parse_qsl(urlsplit(response.headers["location"]).query))
    assert params["client_id"] == tenant.client_id
    assert params["login_hint"] == f"someone@{domain}"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["nonce"] and params["state"] and params["redirect_uri"] == CALLBACK


async def test_login_offers_a_picker_where_a_domain_is_ambiguous(api, anon, idp):
    domain = f"shared-{uuid.uuid4().hex[:6]}.example"
    first = await sso_tenant(api, idp, domains=(domain,), name="First")
    second = await sso_tenant(api, idp, domains=(domain,), name="Second")
    token = await csrf_token(anon)
    picker = await anon.post("/login/sso", data={"sso_email": f"x@{domain}", "_csrf_token": token})
    assert picker.status_code == 200
    assert first.name in picker.text and second.name in picker.text
    chosen = await anon.post(
        "/login/sso", data={"sso_email": f"x@{domain}", "tenant": second.slug, "_csrf_token": token}
    )
    assert chosen.status_code == 303
    assert dict(parse_qsl(urlsplit(chosen.headers["location"]).query))["client_id"] == second.client_id


async def test_login_with_an_unknown_domain_says_so_beside_the_field(anon):
    token = await csrf_token(anon)
    response = await anon.post("/login/sso", data={"sso_email": "x@nowhere.example", "_csrf_token": token})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.text
    assert "No organisation on this portal signs in with @nowhere.example addresses" in response.text


async def test_sign_in_link_of_an_unknown_or_unconfigured_tenant_is_a_clear_page(api, anon):
    plain = await new_tenant(api)
    for slug in (plain["slug"], "no-such-tenant"):
        response = await anon.get(f"/t/{slug}/login")
        assert response.status_code == 404
        assert "does not offer single sign-on on this portal" in response.text


async def test_an_unreachable_provider_is_a_clear_page(api, anon, idp):
    tenant = await sso_tenant(api, idp)
    body = {"issuer": f"http://127.0.0.1:{closed_port()}", "client_id": "x", "client_secret": "y" * 16}
    assert (await api.put(federation_url(tenant.id), json=body)).status_code == 200
    response = await anon.get(f"/t/{tenant.slug}/login")
    assert response.status_code == 502
    assert "cannot be used right now: could not connect to" in response.text


async def test_an_undecryptable_client_secret_is_a_clear_page(api, anon, app, idp):
    tenant = await sso_tenant(api, idp)
    async with app.state.portal.sessions() as db:
        await db.execute(
            update(IdentityProvider)
            .where(IdentityProvider.tenant_id == uuid.UUID(tenant.id))
            .values(sealed_fields={"client_secret": "v1:tampered"})
        )
        await db.commit()
    response = await anon.get(f"/t/{tenant.slug}/login")
    assert response.status_code == 503
    assert "the client secret cannot be opened" in response.text


async def test_switching_between_ones_tenants(api, anon, app, idp):
    first = await sso_tenant(api, idp, jit=True, name="First")
    second = await sso_tenant(api, idp, jit=True, name="Second")
    both = person(idp)
    assert (await sso_sign_in(anon, idp, first.slug, both.subject)).status_code == 303
    assert (await sso_sign_in(anon, idp, second.slug, both.subject)).status_code == 303
    home = await anon.get("/", follow_redirects=False)
    assert home.headers["location"] == f"/t/{second.slug}"
    page = await anon.get(f"/t/{second.slug}")
    assert 'id="switch-tenant"' in page.text and first.name in page.text
    token = csrf_from(page.text)
    switched = await anon.post("/auth/tenant", data={"slug": first.slug, "_csrf_token": token})
    assert switched.status_code == 303 and switched.headers["location"] == f"/t/{first.slug}"
    assert (await anon.get("/")).headers["location"] == f"/t/{first.slug}"
    refused = await anon.post("/auth/tenant", data={"slug": "not-mine", "_csrf_token": token})
    assert refused.status_code == 404


async def _invite(app, tenant_id: str, email: str, role: str) -> str:
    return token_of((await Factory.of_app(app).invitation(tenant_id, email, role)).link)


async def _accept(client, token: str) -> str:
    page = await client.get(f"/invite/{token}")
    assert page.status_code == 200, page.text
    response = await client.post(f"/invite/{token}/accept", data={"_csrf_token": csrf_from(page.text)})
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def test_an_invited_person_lands_in_the_tenant_with_the_invited_role(api, anon, app, idp):
    tenant = await sso_tenant(api, idp, jit=False, domains=())
    invited = person(idp, "b.example")
    token = await _invite(app, tenant.id, invited.email, "admin")
    callback = await authorize_at_provider(idp, await _accept(anon, token), invited.subject)
    response = await anon.get(local(callback))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/t/{tenant.slug}"
    assert await membership_role(app, invited.email, tenant.id) == "admin"
    assert await identities_of(app, invited.email) == [(idp.issuer, invited.subject)]
    page = await anon.get(f"/t/{tenant.slug}")
    assert "your invitation is accepted" in page.text and f"Acting in {tenant.name}" in page.text
    via = (await audit_rows(app, tenant.id, action="auth.sign_in"))[-1].details["via"]
    assert via == "invitation"


async def test_an_invitation_revoked_during_sign_in_is_refused_at_the_callback(api, anon, app, idp):
    from sqlalchemy import select

    from portal.db.base import utcnow
    from portal.db.models import Invitation
    from portal.members.tokens import hash_token

    tenant = await sso_tenant(api, idp, jit=False, domains=())
    invited = person(idp, "b.example")
    token = await _invite(app, tenant.id, invited.email, "member")
    authorize = await _accept(anon, token)
    async with app.state.portal.sessions() as db:
        row = await db.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
        row.revoked_at = utcnow()
        await db.commit()
    callback = await authorize_at_provider(idp, authorize, invited.subject)
    response = await anon.get(local(callback))
    assert response.status_code == 403
    assert "You were not signed in" in response.text
    assert await membership_role(app, invited.email, tenant.id) is None
    assert await user_by_email(app, invited.email) is None  # the account made for it was rolled back
    refused = (await audit_rows(app, tenant.id, action="auth.sign_in"))[-1]
    assert refused.details["reason_code"] == "invitation_refused"


async def test_a_session_reaches_only_the_tenants_whose_provider_signed_it_in(api, anon, app, idp):
    from tests.support.apps import client_for

    first = await sso_tenant(api, idp, jit=True, name="Reach one")
    second = await sso_tenant(api, idp, jit=True, name="Reach two")
    both = person(idp)
    async with client_for(app) as elsewhere:  # becomes a member of the second tenant, elsewhere
        assert (await sso_sign_in(elsewhere, idp, second.slug, both.subject)).status_code == 303
    assert (await sso_sign_in(anon, idp, first.slug, both.subject)).status_code == 303

    assert (await anon.get(f"/t/{first.slug}")).status_code == 200
    assert (await anon.get(f"/t/{second.slug}", follow_redirects=False)).status_code == 404
    assert (await anon.get(f"/api/portal/tenants/{second.slug}/providers")).status_code == 404
    page = await anon.get(f"/t/{first.slug}")
    assert f"{second.name} (admin, sign in)" in page.text or f"{second.name} (member, sign in)" in page.text
    switched = await anon.post(
        "/auth/tenant", data={"slug": second.slug, "_csrf_token": csrf_from(page.text)}
    )
    assert switched.headers["location"].startswith(idp.issuer + "/authorize?")  # the switcher's POST

    assert (await sso_sign_in(anon, idp, second.slug, both.subject)).status_code == 303
    assert (await anon.get(f"/t/{second.slug}")).status_code == 200
    assert (await anon.get(f"/t/{first.slug}")).status_code == 200, "signing in to another keeps the first"
