"""Route-by-route access matrix: EVERY page and endpoint of the app, enumerated from app.routes at
test time, against six callers, each with the status it must get.

A route missing from EXPECTED fails the test: a new route cannot escape the matrix.

Callers, all acting on tenant T (slug and id in the path):
  anon          nobody signed in (API: 401; pages: 303 to /login)
  member        a member of T (reads; changes are 403)
  outsider      an admin of another tenant (T's things are 404: not even confirmed to exist)
  admin         an admin of T
  platform      a platform admin, signed in through /login's password form
  impersonator  a platform admin impersonating T (acts as T's admin; platform routes are 403)

Every caller signs in for real: members and admins through their tenant's identity provider (the
demo OpenID Provider on loopback), platform admins with the password form and a second factor
(enrolled through the real pages; the impersonator signs in again with a recovery code and starts
impersonating through the real API). Before each request each caller's session is put back
as it was, so a route that changes the session (sign-out, stop impersonating) cannot affect the
next row. Requests that would change or destroy something get their own fresh resource from a
setup step, or a body that the route refuses (400), so each row tests the guard in isolation.

OPTIONS (and HEAD beside GET) are answered by the framework with no data; they are left out.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.serialization import decode_json, encode_json

from portal.demo.identity_provider import DemoIdentityProvider
from portal.web.auth import CSRF_COOKIE, CSRF_HEADER
from portal.web.sessions import SESSION_COOKIE, SESSION_MAX_AGE, SESSION_STORE
from tests.support.api import new_tenant
from tests.support.apps import client_for
from tests.support.factories import Factory, token_of
from tests.support.rows import user_by_email
from tests.support.signin import csrf_from, password_step, second_step
from tests.support.sso import person, sso_sign_in, sso_tenant

ANON, MEMBER, OUTSIDER, ADMIN, PLATFORM, IMPERSONATOR = (
    "anon",
    "member",
    "outsider",
    "admin",
    "platform",
    "impersonator",
)
CALLERS = (ANON, MEMBER, OUTSIDER, ADMIN, PLATFORM, IMPERSONATOR)
SKIPPED_METHODS = {"OPTIONS", "HEAD"}


def _signed_out(path: str) -> int:
    return 401 if path.startswith("/api/") else 303


@dataclass(frozen=True)
class Row:
    """The expected status per caller, the request to send, and an optional setup per request."""

    kind: str  # public | platform | tenant_read | tenant_admin | tenant_platform | custom
    ok: int | None = None
    overrides: dict[str, int] = field(default_factory=dict)
    json: Any = None
    form: dict[str, str] | None = None
    setup: str | None = None  # the name of a World method returning extra path values

    def expected(self, path: str) -> dict[str, int]:
        out = _signed_out(path)
        table = {
            "public": dict.fromkeys(CALLERS, self.ok),
            "platform": {
                ANON: out,
                MEMBER: 403,
                OUTSIDER: 403,
                ADMIN: 403,
                PLATFORM: self.ok,
                IMPERSONATOR: 403,
            },
            "tenant_read": {
                ANON: out,
                MEMBER: self.ok,
                OUTSIDER: 404,
                ADMIN: self.ok,
                PLATFORM: self.ok,
                IMPERSONATOR: self.ok,
            },
            "tenant_admin": {
                ANON: out,
                MEMBER: 403,
                OUTSIDER: 404,
                ADMIN: self.ok,
                PLATFORM: self.ok,
                IMPERSONATOR: self.ok,
            },
            # Tenant pages only the platform may use (rename, suspend, delete): insiders 403.
            "tenant_platform": {
                ANON: out,
                MEMBER: 403,
                OUTSIDER: 404,
                ADMIN: 403,
                PLATFORM: self.ok,
                IMPERSONATOR: 403,
            },
            "custom": {},
        }[self.kind]
        return {**table, **self.overrides}


def public(ok: int, **kw: Any) -> Row:
    return Row("public", ok, **kw)


def platform(ok: int, **kw: Any) -> Row:
    return Row("platform", ok, **kw)


def read(ok: int = 200, **kw: Any) -> Row:
    return Row("tenant_read", ok, **kw)


def admin(ok: int, **kw: Any) -> Row:
    return Row("tenant_admin", ok, **kw)


def platform_in_tenant(ok: int, **kw: Any) -> Row:
    return Row("tenant_platform", ok, **kw)


def custom(form: dict[str, str] | None = None, **statuses: int) -> Row:
    assert set(statuses) == set(CALLERS), statuses
    return Row("custom", overrides=statuses, form=form)


EMPTY_FORM: dict[str, str] = {}
T = "/api/v1/sysadmin/tenants/{tenant_id:str}"
P = "/api/portal/tenants/{tenant_id:str}"
S = "/t/{slug:str}"

EXPECTED: dict[tuple[str, str], Row] = {
    # --- public
    ("GET", "/health"): public(200),
    ("GET", "/static/{file_path:path}"): public(200),
    ("GET", "/schema"): public(200),
    ("GET", "/schema/swagger"): public(200),
    ("GET", "/schema/{path:str}"): public(404),  # the OpenAPI plugin's catch-all for unknown paths
    ("GET", "/schema/openapi.json"): public(200),
    ("GET", "/schema/oauth2-redirect.html"): public(200),
    ("GET", "/"): public(303),
    ("GET", "/login"): public(303, overrides={ANON: 200}),
    ("POST", "/login"): public(400, form=EMPTY_FORM),
    ("POST", "/logout"): public(303),
    ("GET", "/invite/{token:str}"): public(200, setup="invitation_token"),
    # T has no identity provider: the invitation cannot start a sign-in, whoever asks.
    ("POST", "/invite/{token:str}/accept"): public(404, setup="invitation_token_without_sso"),
    # --- platform: tenants, catalogue, users, audit, impersonation
    ("GET", "/api/v1/sysadmin/tenants"): platform(200),
    ("POST", "/api/v1/sysadmin/tenants"): platform(400, json={}),
    ("GET", T): platform(200),
    ("PUT", T): platform(200, json={}),
    ("DELETE", T): platform(204, setup="throwaway_tenant"),
    ("GET", "/admin/tenants"): platform(200),
    ("POST", "/admin/tenants"): platform(400, form=EMPTY_FORM),
    ("GET", "/admin/tenants/new"): platform(200),
    ("GET", "/admin/catalog"): platform(200),
    # A made-up id: the catalogue is shared by every test, so nothing real is removed.
    ("POST", "/admin/catalog/models/{model_id:uuid}/remove"): platform(404, setup="unknown_catalog_ids"),
    ("POST", "/admin/catalog/providers/{provider_id:uuid}/remove"): platform(
        404, setup="unknown_catalog_ids"
    ),
    # Prices of built-in models (made-up ids for changes: the catalogue is shared by every test).
    ("GET", "/api/v1/sysadmin/catalog"): platform(200),
    ("PUT", "/api/v1/sysadmin/catalog/models/{model_id:str}/prices"): platform(
        404, json={}, setup="unknown_catalog_ids"
    ),
    ("POST", "/api/v1/sysadmin/catalog/models/{model_id:str}/prices/reset"): platform(
        404, setup="unknown_catalog_ids"
    ),
    ("GET", "/admin/catalog/models/{model_id:uuid}/prices"): platform(200, setup="builtin_model"),
    ("POST", "/admin/catalog/models/{model_id:uuid}/prices"): platform(
        404, form=EMPTY_FORM, setup="unknown_catalog_ids"
    ),
    ("POST", "/admin/catalog/models/{model_id:uuid}/prices/reset"): platform(
        404, setup="unknown_catalog_ids"
    ),
    ("PUT", f"{T}/monthly-limit"): platform(400, json={"monthly_limit_usd": -1}),
    ("GET", "/api/v1/admin/users"): platform(200),
    ("GET", "/admin/users"): platform(200),
    ("GET", "/api/v1/admin/audit"): platform(200),
    ("GET", "/admin/audit"): platform(200),
    ("GET", "/admin/audit/csv"): platform(200),
    ("POST", "/api/v1/admin/impersonate"): platform(400, json={}),
    ("POST", "/admin/impersonate"): platform(400, form=EMPTY_FORM),
    # Stopping: any platform admin's session; 409 when not impersonating.
    ("POST", "/api/v1/admin/stop-impersonation"): platform(409, overrides={IMPERSONATOR: 200}),
    ("POST", "/admin/stop-impersonation"): platform(409, overrides={IMPERSONATOR: 303}),
    # --- tenant: credentials (sysadmin shape and BYO llm-keys)
    ("GET", f"{T}/credentials"): read(200),
    ("PUT", f"{T}/credentials/{{provider:str}}"): admin(400, json={}),
    ("DELETE", f"{T}/credentials/{{provider:str}}"): admin(200, setup="credential"),
    ("GET", f"{P}/llm-keys"): read(200),
    ("POST", f"{P}/llm-keys"): admin(400, json={}),
    ("DELETE", f"{P}/llm-keys/{{key_id:str}}"): admin(204, setup="credential"),
    ("POST", f"{P}/credentials/{{provider:str}}/test"): read(200, setup="credential"),
    # --- tenant: providers and models
    ("GET", f"{P}/providers"): read(200),
    ("POST", f"{P}/providers"): admin(400, json={}),
    ("GET", f"{P}/providers/with-keys"): read(200),
    ("PUT", f"{P}/providers/{{provider_id:str}}"): admin(200, json={}),
    ("DELETE", f"{P}/providers/{{provider_id:str}}"): admin(204, setup="custom_provider"),
    ("GET", f"{P}/providers/{{provider_id:str}}/models"): read(200),
    ("POST", f"{P}/providers/{{provider_id:str}}/models"): admin(400, json={}),
    ("PUT", f"{P}/providers/models/{{model_id:str}}"): admin(400, json={}),
    ("DELETE", f"{P}/providers/models/{{model_id:str}}"): admin(204, setup="custom_model"),
    ("PUT", f"{P}/providers/models/{{model_id:str}}/prices"): admin(
        400, json={"input_usd_per_million": -1, "output_usd_per_million": 1}
    ),
    # --- tenant: members, invitations, audit (API)
    ("GET", f"{P}/users"): admin(200),
    ("PATCH", f"{P}/users/{{user_id:str}}"): admin(400, json={}),
    # The user is T's only admin: never removable.
    ("DELETE", f"{P}/users/{{user_id:str}}"): admin(409),
    ("POST", f"{P}/invitations"): admin(400, json={}),
    ("POST", f"{P}/invitations/{{invitation_id:str}}/resend"): admin(200),
    ("DELETE", f"{P}/invitations/{{invitation_id:str}}"): admin(204, setup="invitation"),
    ("GET", f"{P}/audit"): admin(200),
    # --- tenant pages
    ("GET", S): read(200),
    ("GET", f"{S}/settings"): platform_in_tenant(200),
    ("POST", f"{S}/settings"): platform_in_tenant(400, form=EMPTY_FORM),
    ("POST", f"{S}/status"): platform_in_tenant(400, form=EMPTY_FORM),
    ("POST", f"{S}/monthly-limit"): platform_in_tenant(400, form={"monthly_limit_usd": "-1"}),
    ("GET", f"{S}/delete"): platform_in_tenant(200),
    ("POST", f"{S}/delete"): platform_in_tenant(400, form=EMPTY_FORM),
    ("GET", f"{S}/credentials"): read(200),
    ("POST", f"{S}/credentials"): admin(400, form={"provider": "openai"}),
    ("POST", f"{S}/credentials/{{provider:str}}/test"): read(303, setup="credential"),
    ("GET", f"{S}/credentials/{{provider:str}}/delete"): admin(200, setup="credential"),
    ("POST", f"{S}/credentials/{{provider:str}}/delete"): admin(303, setup="credential"),
    ("GET", f"{S}/providers"): read(200),
    ("POST", f"{S}/providers"): admin(400, form=EMPTY_FORM),
    ("GET", f"{S}/providers/{{provider_id:str}}"): read(200),
    ("POST", f"{S}/providers/{{provider_id:str}}"): admin(400, form=EMPTY_FORM),
    ("GET", f"{S}/providers/{{provider_id:str}}/delete"): admin(200),
    ("POST", f"{S}/providers/{{provider_id:str}}/delete"): admin(303, setup="custom_provider"),
    ("POST", f"{S}/providers/{{provider_id:str}}/models"): admin(400, form=EMPTY_FORM),
    ("POST", f"{S}/providers/models/{{model_id:str}}/enabled"): admin(303, form=EMPTY_FORM),
    ("POST", f"{S}/providers/models/{{model_id:str}}/delete"): admin(303, setup="custom_model"),
    ("GET", f"{S}/providers/models/{{model_id:str}}/prices"): admin(200),
    ("POST", f"{S}/providers/models/{{model_id:str}}/prices"): admin(
        400, form={"input_usd_per_million": "-1"}
    ),
    ("GET", f"{S}/members"): admin(200),
    ("POST", f"{S}/members/invitations"): admin(400, form=EMPTY_FORM),
    ("POST", f"{S}/members/invitations/{{invitation_id:str}}/resend"): admin(200),
    ("GET", f"{S}/members/invitations/{{invitation_id:str}}/revoke"): admin(200),
    ("POST", f"{S}/members/invitations/{{invitation_id:str}}/revoke"): admin(303, setup="invitation"),
    # Refused for the last admin, with a message after the redirect.
    ("POST", f"{S}/members/users/{{user_id:str}}/role"): admin(303, form={"role": "member"}),
    ("GET", f"{S}/members/users/{{user_id:str}}/remove"): admin(200),
    ("POST", f"{S}/members/users/{{user_id:str}}/remove"): admin(303),
    ("GET", f"{S}/audit"): admin(200),
    ("GET", f"{S}/audit/csv"): admin(200),
    # --- sign-in through the tenants' identity providers (issue 3, OIDC)
    ("POST", "/login/sso"): public(400, form=EMPTY_FORM),
    ("GET", f"{S}/login"): public(404, setup="no_federation"),
    ("POST", f"{S}/login"): public(404, form=EMPTY_FORM, setup="no_federation"),
    ("GET", "/auth/callback"): public(400),
    ("GET", "/login/callback"): public(400),  # Eneo's default callback path, the same handler
    # Linking a new sign-in to one's account: only with a sign-in waiting for this session.
    ("GET", "/auth/link"): public(400),
    ("POST", "/auth/link"): public(400, form=EMPTY_FORM),
    # The second step of a platform admin's sign-in: only after the password, in this browser.
    ("GET", "/login/second-factor"): public(303),
    ("POST", "/login/second-factor"): public(303, form=EMPTY_FORM),
    ("GET", "/login/second-factor/setup"): public(303),
    ("POST", "/login/second-factor/setup"): public(303, form=EMPTY_FORM),
    # Switching to a tenant of one's own: the platform admins here belong to none.
    ("POST", "/auth/tenant"): custom(
        anon=303, member=303, outsider=404, admin=303, platform=404, impersonator=404, form={"slug": "{slug}"}
    ),
    ("GET", f"{T}/federation"): admin(200, setup="federation"),
    ("PUT", f"{T}/federation"): admin(400, json={}),
    ("DELETE", f"{T}/federation"): admin(200, setup="federation"),
    ("POST", f"{T}/federation/test"): admin(200, json={}, setup="federation"),
    ("GET", f"{S}/sso"): admin(200, setup="federation"),
    ("POST", f"{S}/sso"): admin(400, form=EMPTY_FORM),
    ("POST", f"{S}/sso/test"): admin(303, setup="federation"),
    ("GET", f"{S}/sso/delete"): admin(200, setup="federation"),
    ("POST", f"{S}/sso/delete"): admin(303, setup="federation"),
    # --- issued API keys and usage (issue 4)
    ("GET", f"{P}/api-keys"): read(200),
    ("POST", f"{P}/api-keys"): admin(400, json={}),
    ("POST", f"{P}/api-keys/revoke-older"): admin(400, json={}),
    ("GET", f"{P}/api-keys/{{key_id:str}}"): read(200, setup="api_key"),
    ("PATCH", f"{P}/api-keys/{{key_id:str}}"): admin(200, json={}, setup="api_key"),
    ("DELETE", f"{P}/api-keys/{{key_id:str}}"): admin(204, setup="api_key"),
    ("POST", f"{P}/api-keys/{{key_id:str}}/rotate"): admin(201, json={}, setup="api_key"),
    ("POST", f"{P}/api-keys/{{key_id:str}}/increase-limit"): admin(400, json={}, setup="api_key"),
    ("GET", f"{P}/api-keys/{{key_id:str}}/usage"): read(200, setup="api_key"),
    ("GET", f"{P}/usage"): read(200),
    ("GET", f"{P}/api-key-plans"): read(200),
    ("PUT", f"{P}/api-key-plans"): admin(200, json={}),  # nothing to change
    ("GET", f"{S}/api-keys"): read(200),
    ("POST", f"{S}/api-keys"): admin(400, form=EMPTY_FORM),
    ("GET", f"{S}/api-keys/plans"): read(200),
    ("POST", f"{S}/api-keys/plans"): admin(400, form=EMPTY_FORM),
    ("GET", f"{S}/api-keys/revoke-old"): admin(200),
    ("POST", f"{S}/api-keys/revoke-old"): admin(400, form=EMPTY_FORM),
    ("GET", f"{S}/api-keys/{{key_id:str}}"): read(200, setup="api_key"),
    ("POST", f"{S}/api-keys/{{key_id:str}}"): admin(400, form=EMPTY_FORM, setup="api_key"),
    ("POST", f"{S}/api-keys/{{key_id:str}}/increase-limit"): admin(400, form=EMPTY_FORM, setup="api_key"),
    ("POST", f"{S}/api-keys/{{key_id:str}}/disable"): admin(303, setup="api_key"),
    ("POST", f"{S}/api-keys/{{key_id:str}}/enable"): admin(303, setup="api_key"),
    ("GET", f"{S}/api-keys/{{key_id:str}}/rotate"): admin(200, setup="api_key"),
    ("POST", f"{S}/api-keys/{{key_id:str}}/rotate"): admin(200, setup="api_key"),
    ("GET", f"{S}/api-keys/{{key_id:str}}/revoke"): admin(200, setup="api_key"),
    ("POST", f"{S}/api-keys/{{key_id:str}}/revoke"): admin(303, setup="api_key"),
    ("GET", f"{S}/usage"): read(200),
    # The service API takes issued keys (Bearer) only: no session gets in.
    ("POST", "/api/v1/resolve"): public(401, json={}),
    ("POST", "/api/v1/usage"): public(401, json={}),
    ("GET", "/api/v1/usage"): public(401),
    # --- the gateway (issue 9): issued keys with the inference scope only; sessions and the platform key 401
    ("POST", "/v1/chat/completions"): public(401, json={}),
    ("POST", "/v1/embeddings"): public(401, json={}),
    ("GET", "/v1/models"): public(401),
}


@dataclass
class World:
    """Tenant T with its admin and member, another tenant with its admin, and T's resources."""

    app: Litestar
    api: httpx.AsyncClient
    tenant: dict[str, Any]
    values: dict[str, str]

    async def throwaway_tenant(self) -> dict[str, str]:
        return {"tenant_id": (await new_tenant(self.api, name="Throwaway"))["id"]}

    async def unknown_catalog_ids(self) -> dict[str, str]:
        return {"model_id": str(uuid.uuid4()), "provider_id": str(uuid.uuid4())}

    async def builtin_model(self) -> dict[str, str]:
        catalog = (await self.api.get("/api/v1/sysadmin/catalog")).json()
        return {"model_id": next(m["id"] for p in catalog for m in p["models"])}

    async def credential(self) -> dict[str, str]:
        url = f"/api/v1/sysadmin/tenants/{self.tenant['id']}/credentials/mistral"
        response = await self.api.put(url, json={"api_key": "sk-matrix-mistral-0001"})
        assert response.status_code == 200, response.text
        listed = (await self.api.get(f"/api/portal/tenants/{self.tenant['id']}/llm-keys")).json()
        key_id = next(k["id"] for k in listed if k["provider"] == "mistral")
        return {"provider": "mistral", "key_id": key_id}

    async def _created(self, path: str, body: dict[str, Any], name: str) -> dict[str, str]:
        """POSTs `body` to the tenant's portal API at `path`; `name` is the new resource's id."""
        response = await self.api.post(f"/api/portal/tenants/{self.tenant['id']}{path}", json=body)
        assert response.status_code == 201, response.text
        return {name: response.json()["id"]}

    async def custom_provider(self) -> dict[str, str]:
        body = {
            "name": f"custom-{uuid.uuid4().hex[:8]}",
            "base_url": "http://127.0.0.1:9/v1",
            "models": ["m1"],
        }
        return await self._created("/providers", body, "provider_id")

    async def custom_model(self) -> dict[str, str]:
        path = f"/providers/{self.values['provider_id']}/models"
        return await self._created(path, {"name": f"model-{uuid.uuid4().hex[:8]}"}, "model_id")

    async def federation(self) -> dict[str, str]:
        response = await self.api.put(
            f"/api/v1/sysadmin/tenants/{self.tenant['id']}/federation",
            json={
                "issuer": "http://127.0.0.1:9/matrix",
                "client_id": "matrix",
                "client_secret": "matrix-secret-1",
            },
        )
        assert response.status_code == 200, response.text
        return {}

    async def no_federation(self) -> dict[str, str]:
        await self.api.delete(f"/api/v1/sysadmin/tenants/{self.tenant['id']}/federation")
        return {}

    async def api_key(self) -> dict[str, str]:
        return await self._created("/api-keys", {"name": f"matrix-{uuid.uuid4().hex[:6]}"}, "key_id")

    async def invitation(self) -> dict[str, str]:
        issued = await Factory.of_app(self.app).invitation(
            self.tenant["id"], f"m-{uuid.uuid4().hex[:8]}@example.com"
        )
        return {"invitation_id": str(issued.invitation.id)}

    async def invitation_token_without_sso(self) -> dict[str, str]:
        await self.no_federation()
        return await self.invitation_token()

    async def invitation_token(self) -> dict[str, str]:
        issued = await Factory.of_app(self.app).invitation(
            self.tenant["id"], f"t-{uuid.uuid4().hex[:8]}@example.com"
        )
        return {"token": token_of(issued.link)}


@dataclass
class Caller:
    name: str
    session_id: str | None = None
    session: dict[str, Any] | None = None


async def _session_of(app: Litestar, name: str, client: httpx.AsyncClient) -> Caller:
    session_id = client.cookies[SESSION_COOKIE]
    raw = await app.stores.get(SESSION_STORE).get(session_id)
    assert raw is not None
    return Caller(name, session_id, decode_json(raw))


async def _signed_in_platform_admins(app: Litestar, tenant: dict[str, Any]) -> tuple[Caller, Caller]:
    """A platform admin who enrols a second factor through the real pages (PLATFORM), and the same
    admin signed in again with password and a recovery code, impersonating T (IMPERSONATOR)."""
    email = (await Factory.of_app(app).platform_admin()).email
    async with client_for(app) as client:
        assert (await password_step(client, email)).status_code == 303
        page = await client.get("/login/second-factor/setup")
        secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.text).group(1)
        done = await client.post(
            "/login/second-factor/setup",
            data={"code": pyotp.TOTP(secret.replace(" ", "")).now(), "_csrf_token": csrf_from(page.text)},
        )
        recovery = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.text)
        platform = await _session_of(app, PLATFORM, client)
    async with client_for(app) as client:
        assert (await password_step(client, email)).headers["location"] == "/login/second-factor"
        assert (await second_step(client, recovery[0])).status_code == 303
        client.headers[CSRF_HEADER] = client.cookies[CSRF_COOKIE]
        started = await client.post(
            "/api/v1/admin/impersonate", json={"tenant_id": tenant["id"], "reason": "access matrix"}
        )
        assert started.status_code == 200, started.text
        impersonator = await _session_of(app, IMPERSONATOR, client)
    return platform, impersonator


async def _signed_in_through_sso(
    app: Litestar, idp: DemoIdentityProvider, name: str, slug: str, groups: tuple[str, ...]
) -> tuple[Caller, str]:
    """A person who joins the tenant through its identity provider (the real round trip)."""
    someone = person(idp, "matrix.example", groups=groups)
    async with client_for(app) as client:
        assert (await sso_sign_in(client, idp, slug, someone.subject)).status_code == 303
        return await _session_of(app, name, client), someone.email


def _fill(path: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"no value for {{{name}}} in {path}"
        return values[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", one, path)


def _app_routes(app: Litestar) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            found += [
                (method, route.path) for method in sorted(route.methods) if method not in SKIPPED_METHODS
            ]
    return sorted(set(found), key=lambda r: (r[1], r[0]))


async def test_every_route_is_in_the_matrix(app):
    routes = _app_routes(app)
    missing = [r for r in routes if r not in EXPECTED]
    stale = [r for r in EXPECTED if r not in routes]
    assert not missing, "routes with no row in EXPECTED (add one):\n" + "\n".join(
        f"  {m} {p}" for m, p in missing
    )
    assert not stale, "rows for routes that no longer exist:\n" + "\n".join(f"  {m} {p}" for m, p in stale)


@pytest.fixture(scope="module")
def matrix_idp() -> Iterator[DemoIdentityProvider]:
    with DemoIdentityProvider([], title="Matrix provider") as provider:
        yield provider


async def test_access_matrix(app, api, matrix_idp):
    """Every caller signs in for real: members and admins through their tenant's identity provider,
    platform admins with password and second factor."""
    t = await sso_tenant(api, matrix_idp, jit=True, domains=("matrix.example",), name="Matrix T")
    o = await sso_tenant(api, matrix_idp, jit=True, domains=("matrix.example",), name="Matrix O")
    tenant, other = ({"id": x.id, "slug": x.slug, "name": x.name} for x in (t, o))
    admins = ("portal-admins",)
    admin_caller, admin_email = await _signed_in_through_sso(app, matrix_idp, ADMIN, t.slug, admins)
    member_caller, _ = await _signed_in_through_sso(app, matrix_idp, MEMBER, t.slug, ())
    outsider_caller, _ = await _signed_in_through_sso(app, matrix_idp, OUTSIDER, o.slug, admins)
    admin_user = await user_by_email(app, admin_email)
    assert admin_user is not None and other["id"] != tenant["id"]
    world = World(app, api, tenant, {})
    world.values.update(
        {
            "tenant_id": tenant["id"],
            "slug": tenant["slug"],
            "file_path": "portal.css",
            "path": "openapi.yaml",
            "user_id": str(admin_user.id),
        }
    )
    world.values.update(await world.credential())
    world.values.update(await world.custom_provider())
    world.values.update(await world.custom_model())
    world.values.update(await world.invitation())
    world.values.update(await world.invitation_token())

    async with client_for(app) as client:
        await client.get("/login")
        csrf = client.cookies[CSRF_COOKIE]
    platform_caller, impersonator_caller = await _signed_in_platform_admins(app, tenant)
    callers = {
        ANON: Caller(ANON),
        MEMBER: member_caller,
        OUTSIDER: outsider_caller,
        ADMIN: admin_caller,
        PLATFORM: platform_caller,
        IMPERSONATOR: impersonator_caller,
    }
    store = app.stores.get(SESSION_STORE)

    async def call(caller: Caller, method: str, url: str, row: Row, values: dict[str, str]) -> httpx.Response:
        cookie = f"{CSRF_COOKIE}={csrf}"
        if caller.session_id is not None:
            # Put the session back as it was: an earlier row may have signed out or stopped.
            await store.set(caller.session_id, encode_json(caller.session), expires_in=SESSION_MAX_AGE)
            cookie += f"; {SESSION_COOKIE}={caller.session_id}"
        kwargs: dict[str, Any] = {"headers": {"cookie": cookie, CSRF_HEADER: csrf}}
        if row.json is not None:
            kwargs["json"] = row.json
        elif row.form is not None or method != "GET":
            kwargs["data"] = {k: _fill(v, values) for k, v in (row.form or {}).items()}
        async with client_for(app) as client:
            return await client.request(method, url, follow_redirects=False, **kwargs)

    mismatches: list[str] = []
    checked = 0
    for method, path in _app_routes(app):
        row = EXPECTED.get((method, path))
        if row is None:
            continue  # reported by test_every_route_is_in_the_matrix
        for name, status in row.expected(path).items():
            values = dict(world.values)
            if row.setup:
                values.update(await getattr(world, row.setup)())
            url = _fill(path, values)
            response = await call(callers[name], method, url, row, values)
            checked += 1
            if response.status_code != status:
                mismatches.append(
                    f"{method:6} {path:70} {name:12} expected {status}, got {response.status_code}"
                    f" {response.text[:120]!r}"
                )
            if name == ANON and status == 303 and response.status_code == 303:
                assert response.headers["location"].startswith("/login"), (method, path)
    assert not mismatches, f"{len(mismatches)} of {checked} wrong:\n" + "\n".join(mismatches)
