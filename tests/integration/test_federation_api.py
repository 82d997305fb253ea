"""Per-tenant identity provider settings: JSON API and pages, sealed secret, discovery test, access."""

from __future__ import annotations

import html
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from portal.db.models import IdentityProvider
from portal.demo.identity_provider import DemoIdentityProvider
from tests.support.api import new_tenant
from tests.support.apps import client_for
from tests.support.env import CANARY
from tests.support.rows import audit_actions, audit_rows
from tests.support.servers import closed_port, silent_server
from tests.support.signin import csrf_from
from tests.support.sso import USERS, federation_url, person, sso_sign_in, sso_tenant

SECRET = "idp-secret-" + CANARY[-20:]


@pytest.fixture(scope="session")
def idp() -> Iterator[DemoIdentityProvider]:
    with DemoIdentityProvider(USERS, title="Federation test provider") as provider:
        yield provider


def body(issuer: str, **extra):
    return {"issuer": issuer, "client_id": "portal-client", "client_secret": SECRET, **extra}


async def test_put_get_delete_with_a_sealed_masked_secret(api, app, idp):
    tenant = await new_tenant(api)
    url = federation_url(tenant["id"])
    assert (await api.get(url)).status_code == 404
    created = await api.put(
        url,
        json=body(
            idp.issuer,
            allowed_domains=["Acme.Example", "@acme.example", "acme.co.uk"],
            role_mapping={"claim": "groups", "admin_values": ["portal-admins"]},
            jit_provisioning=True,
        ),
    )
    assert created.status_code == 200, created.text
    out = created.json()
    assert out["client_secret_hint"] == "..." + SECRET[-4:]
    assert out["scopes"] == "openid profile email"
    assert out["allowed_domains"] == ["acme.example", "acme.co.uk"]
    assert out["redirect_url"] == "http://127.0.0.1:8000/auth/callback"
    assert out["secret_status"] == "ok" and out["jit_provisioning"] is True and out["enabled"] is True
    assert SECRET not in created.text
    fetched = await api.get(url)
    assert fetched.json()["role_mapping"] == {"claim": "groups", "admin_values": ["portal-admins"]}
    async with app.state.portal.sessions() as db:
        row = await db.scalar(
            select(IdentityProvider).where(IdentityProvider.tenant_id == uuid.UUID(tenant["id"]))
        )
        assert row.sealed_fields["client_secret"].startswith("v1:") and SECRET not in str(row.sealed_fields)

    # Without a secret the stored one is kept, for the same issuer and client id only: the stored
    # secret is never sent to another client's (or provider's) token endpoint.
    renamed = await api.put(
        url, json={"issuer": idp.issuer, "client_id": "renamed", "scopes": "openid email"}
    )
    assert (
        renamed.status_code == 400
        and "enter the client secret again" in renamed.json()["errors"]["client_secret"]
    )
    client_id = created.json()["client_id"]
    kept = await api.put(url, json={"issuer": idp.issuer, "client_id": client_id, "scopes": "openid email"})
    assert kept.status_code == 200, kept.text
    assert kept.json()["client_secret_hint"] == "..." + SECRET[-4:] and kept.json()["client_id"] == client_id
    assert kept.json()["jit_provisioning"] is False  # PUT replaces the settings

    assert (await api.delete(url)).status_code == 200
    assert (await api.get(url)).status_code == 404
    assert (await api.delete(url)).status_code == 404
    events = await audit_rows(app, tenant["id"])
    actions = [e.action for e in events if e.action.startswith("federation.")]
    assert actions == ["federation.created", "federation.updated", "federation.deleted"]
    assert events[-1].actor == "api-key:platform"
    assert all(SECRET not in str(e.details) for e in events)
    created_event = next(e for e in events if e.action == "federation.created")
    assert "client_secret" in created_event.details["changed"]


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        (
            {"issuer": "https://login.example.com", "client_id": ""},
            "client_id",
            "required when an issuer is given",
        ),
        (
            {"issuer": "https://login.example.com", "client_id": "c"},
            "client_secret",
            "required when an issuer",
        ),
        ({"issuer": "", "client_id": "c", "client_secret": "s"}, "issuer", "required"),
        (
            {"issuer": "http://login.example.com", "client_id": "c", "client_secret": "s"},
            "issuer",
            "use https://",
        ),
        ({"issuer": "https://x.example/?a=1", "client_id": "c", "client_secret": "s"}, "issuer", "no query"),
        (body("https://x.example", scopes="profile email"), "scopes", "must include openid"),
        (body("https://x.example", allowed_domains=["not a domain"]), "allowed_domains", "not a domain name"),
        (body("https://x.example", jit_provisioning=True), "allowed_domains", "just-in-time"),
        (
            body("https://x.example", role_mapping={"claim": "groups", "admin_values": []}),
            "admin_values",
            "values",
        ),
        (
            body("https://x.example", redirect_url="https://portal.example/callback"),
            "redirect_url",
            "/auth/callback",
        ),
    ],
)
async def test_invalid_settings_name_the_field(api, payload, field, words):
    tenant = await new_tenant(api)
    response = await api.put(federation_url(tenant["id"]), json=payload)
    assert response.status_code == 400, response.text
    assert words in response.json()["errors"][field]


async def test_unknown_body_fields_are_refused(api):
    tenant = await new_tenant(api)
    response = await api.put(
        federation_url(tenant["id"]), json={**body("https://x.example"), "mongo_uri": "x"}
    )
    assert response.status_code == 400
    assert "mongo_uri" in response.json()["errors"]


async def test_discovery_test_reports_what_it_found_and_keeps_the_result(api, idp):
    tenant = await sso_tenant(api, idp)
    result = await api.post(federation_url(tenant.id) + "/test")
    assert result.status_code == 200, result.text
    found = result.json()
    assert found["ok"] is True and found["token_endpoint"] == f"{idp.issuer}/token"
    assert found["code_challenge_methods_supported"] == ["S256"]
    assert "PKCE S256 supported" in found["detail"]
    stored = (await api.get(federation_url(tenant.id))).json()
    assert stored["last_discovery_ok"] is True and stored["last_discovery_at"]


async def test_discovery_test_says_why_it_failed(api, idp):
    tenant = await sso_tenant(api, idp)
    url = federation_url(tenant.id) + "/test"
    refused = (await api.post(url, json={"issuer": f"http://127.0.0.1:{closed_port()}"})).json()
    assert refused["ok"] is False and "could not connect to" in refused["detail"]
    with silent_server() as silent:
        slow = (await api.post(url, json={"issuer": silent})).json()
    assert slow["ok"] is False and "did not answer within 2 s" in slow["detail"]
    mismatch = (await api.post(url, json={"issuer": idp.issuer + "/"})).json()
    assert mismatch["ok"] is False and "issuer differs from the configured issuer" in mismatch["detail"]
    not_found = (await api.post(url, json={"issuer": idp.issuer + "/realms/none"})).json()
    assert not_found["ok"] is False and "answered HTTP 404" in not_found["detail"]
    # Testing another issuer leaves the stored result alone.
    assert (await api.get(federation_url(tenant.id))).json()["last_discovery_ok"] is None
    bad = await api.post(url, json={"issuer": "ftp://x"})
    assert bad.status_code == 400 and "issuer" in bad.json()["errors"]


async def test_access_admins_of_the_tenant_and_platform_admins_only(api, app, idp):
    tenant = await sso_tenant(api, idp, jit=True)
    other = await sso_tenant(api, idp, jit=True)
    url = federation_url(tenant.id)
    async with client_for(app) as anonymous:
        assert (await anonymous.get(url)).status_code == 401
    admin, member, stranger = (
        person(idp, groups=("portal-admins",)),
        person(idp),
        person(idp, groups=("portal-admins",)),
    )
    async with client_for(app) as as_admin, client_for(app) as as_member, client_for(app) as as_other:
        await sso_sign_in(as_admin, idp, tenant.slug, admin.subject)
        await sso_sign_in(as_member, idp, tenant.slug, member.subject)
        await sso_sign_in(as_other, idp, other.slug, stranger.subject)
        assert (await as_admin.get(url)).status_code == 200
        assert (await as_member.get(url)).status_code == 403
        assert (await as_other.get(url)).status_code == 404
        assert (await as_member.get(f"/t/{tenant.slug}/sso")).status_code == 403
        assert (await as_other.get(f"/t/{tenant.slug}/sso")).status_code == 404
        # A session's JSON change needs the CSRF header.
        change = {"issuer": idp.issuer, "client_id": tenant.client_id, "allowed_domains": ["a.example"]}
        assert (await as_admin.put(url, json=change)).status_code == 403
        token = as_admin.cookies.get("portal_csrf") or csrf_from(
            (await as_admin.get(f"/t/{tenant.slug}")).text
        )
        changed = await as_admin.put(url, json=change, headers={"x-csrftoken": token})
        assert changed.status_code == 200, changed.text


async def test_every_request_body_is_in_the_openapi_document(anon):
    schema = (await anon.get("/schema/openapi.json")).json()
    path = schema["paths"]["/api/v1/sysadmin/tenants/{tenant_id}/federation"]
    assert set(path) >= {"get", "put", "delete"}
    put_body = path["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert put_body["$ref"].endswith("/FederationIn")
    props = schema["components"]["schemas"]["FederationIn"]["properties"]
    assert {"issuer", "client_id", "client_secret", "scopes", "allowed_domains", "role_mapping"} <= set(props)
    test = schema["paths"]["/api/v1/sysadmin/tenants/{tenant_id}/federation/test"]["post"]
    assert "requestBody" in test


async def test_the_settings_page_saves_tests_and_deletes(api, browser_session, app, idp):
    client, token = browser_session
    tenant = await new_tenant(api)
    page = await client.get(f"/t/{tenant['slug']}/sso")
    assert page.status_code == 200
    assert "http://127.0.0.1:8000/auth/callback" in page.text and "Not set up yet" in page.text
    form = {
        "_csrf_token": token,
        "issuer": idp.issuer,
        "client_id": "",
        "client_secret": SECRET,
        "scopes": "openid profile email",
        "allowed_domains": "a.example, b.example",
        "role_claim": "groups",
        "admin_values": "portal-admins",
        "enabled": "on",
    }
    refused = await client.post(f"/t/{tenant['slug']}/sso", data=form)
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    assert 'id="e-client_id"' in text and "required when an issuer is given" in text
    assert SECRET not in refused.text  # the secret is never sent back
    saved = await client.post(f"/t/{tenant['slug']}/sso", data={**form, "client_id": "portal-x"})
    assert saved.status_code == 303
    shown = await client.get(f"/t/{tenant['slug']}/sso")
    assert "Single sign-on settings saved (client secret ..." in shown.text
    assert "..." + SECRET[-4:] in shown.text and SECRET not in shown.text
    assert 'value="a.example, b.example"' in shown.text

    fragment = await client.post(
        f"/t/{tenant['slug']}/sso/test",
        data={"_csrf_token": token, "issuer": idp.issuer},
        headers={"hx-request": "true", "hx-target": "discovery_result"},
    )
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="discovery_result"')
    assert "Discovery works." in fragment.text
    plain = await client.post(f"/t/{tenant['slug']}/sso/test", data={"_csrf_token": token})
    assert plain.status_code == 303

    confirm = await client.get(f"/t/{tenant['slug']}/sso/delete")
    assert "Delete the single sign-on settings" in confirm.text
    deleted = await client.post(f"/t/{tenant['slug']}/sso/delete", data={"_csrf_token": token})
    assert deleted.status_code == 303
    assert "Not set up yet" in (await client.get(f"/t/{tenant['slug']}/sso")).text
    assert await audit_actions(app, tenant["id"], "federation.") == [
        "federation.created",
        "federation.discovery_tested",
        "federation.discovery_tested",
        "federation.deleted",
    ]
