"""Single sign-on in a real browser through a real OpenID Provider: the npm `oidc-provider`
(PKCE required, exact redirect URIs, `iss` on the callback), two tenants each on its own provider.

The portal runs here with PUBLIC_URL set to its own loopback address (the providers check the
redirect URI exactly), so these tests serve it themselves instead of using the shared live server.
"""

from __future__ import annotations

import re
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from portal.audit.actor import Actor
from portal.config import Settings
from portal.db.engine import create_engine, create_session_factory
from portal.db.models import AuditEvent, Tenant
from portal.db.session import unit_of_work
from portal.members import invitations as members
from tests.e2e.oidc_provider import OidcProvider, need_oidc_provider, start_oidc_provider
from tests.support.browser import migrated_with_admin, new_context, sign_in, snap
from tests.support.env import API_KEY, make_settings, sqlite_url
from tests.support.servers import loopback_socket, served_in_thread

pytestmark = pytest.mark.browser

ADMINS = ["portal-admins"]


@dataclass(frozen=True)
class SsoTenant:
    id: str
    slug: str
    name: str
    provider: OidcProvider


@dataclass(frozen=True)
class SsoWorld:
    url: str
    settings: Settings
    a: SsoTenant
    b: SsoTenant


@pytest.fixture(scope="module")
def portal_socket() -> Iterator[socket.socket]:
    sock = loopback_socket()
    yield sock
    sock.close()


@pytest.fixture(scope="module")
async def sso_settings(tmp_path_factory: pytest.TempPathFactory, portal_socket: socket.socket) -> Settings:
    var_dir = tmp_path_factory.mktemp("sso-e2e")
    url = f"http://127.0.0.1:{portal_socket.getsockname()[1]}"
    settings = make_settings(var_dir, sqlite_url(var_dir), PUBLIC_URL=url)
    return await migrated_with_admin(settings)


@pytest.fixture(scope="module")
async def providers(
    sso_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[OidcProvider, OidcProvider, dict[str, str]]]:
    node = need_oidc_provider()
    public = sso_settings.public_url
    secrets_by_client = {"portal-a": secrets.token_urlsafe(24), "portal-b": secrets.token_urlsafe(24)}

    def client(client_id: str) -> dict[str, object]:
        return {
            "client_id": client_id,
            "client_secret": secrets_by_client[client_id],
            "redirect_uris": [f"{public}/auth/callback"],
            "post_logout_redirect_uris": [f"{public}/login?signed_out=true"],
        }

    work = tmp_path_factory.mktemp("oidc-provider")
    a = await start_oidc_provider(
        node,
        work / "a",
        clients=[client("portal-a")],
        accounts={
            "alice": {
                "email": "alice@a-corp.example",
                "email_verified": True,
                "name": "Alice Anders",
                "groups": ADMINS,
            },
            "bob": {
                "email": "bob@a-corp.example",
                "email_verified": True,
                "name": "Bob Berg",
                "groups": ["staff"],
            },
        },
    )
    b = await start_oidc_provider(
        node,
        work / "b",
        clients=[client("portal-b")],
        accounts={"erin": {"email": "erin@b-corp.example", "email_verified": True, "name": "Erin Ek"}},
    )
    try:
        yield a, b, secrets_by_client
    finally:
        await a.stop()
        await b.stop()


@pytest.fixture(scope="module")
def sso_server(sso_settings: Settings, portal_socket: socket.socket) -> Iterator[str]:
    with served_in_thread(sso_settings, "sso-e2e-uvicorn", portal_socket) as url:
        assert url == sso_settings.public_url
        yield url


@pytest.fixture(scope="module")
async def world(sso_server: str, sso_settings: Settings, providers) -> SsoWorld:
    """Tenant A (JIT for @a-corp.example, groups → admin) on provider A; tenant B (invitations
    only) on provider B. Set up through the JSON API, as an operator would."""
    a, b, client_secrets = providers
    suffix = uuid.uuid4().hex[:6]
    made = []
    async with httpx.AsyncClient(base_url=sso_server, headers={"X-API-Key": API_KEY}) as api:
        for letter, provider, jit in (("a", a, True), ("b", b, False)):
            created = await api.post(
                "/api/v1/sysadmin/tenants",
                json={"name": f"{letter.upper()}-Corp {suffix}", "slug": f"{letter}-{suffix}"},
            )
            assert created.status_code == 201, created.text
            tenant = created.json()
            federation = await api.put(
                f"/api/v1/sysadmin/tenants/{tenant['id']}/federation",
                json={
                    "issuer": provider.issuer,
                    "client_id": f"portal-{letter}",
                    "client_secret": client_secrets[f"portal-{letter}"],
                    "scopes": "openid profile email groups",
                    "allowed_domains": [f"{letter}-corp.example", "shared-corp.example"],
                    "role_mapping": {"claim": "groups", "admin_values": ADMINS},
                    "jit_provisioning": jit,
                },
            )
            assert federation.status_code == 200, federation.text
            made.append(SsoTenant(tenant["id"], tenant["slug"], tenant["name"], provider))
    return SsoWorld(sso_server, sso_settings, made[0], made[1])


@pytest.fixture
async def page(chromium: Browser, world: SsoWorld) -> AsyncIterator[Page]:
    context = await new_context(chromium, world.url)
    yield await context.new_page()
    await context.close()


async def at_provider(page: Page, provider: OidcProvider, login: str) -> None:
    """The provider's own pages: its login form (any password), then its consent page."""
    await expect(page).to_have_url(re.compile("^" + re.escape(provider.issuer) + "/"))
    await page.locator('input[name="login"]').fill(login)
    await page.locator('input[name="password"]').fill("any password at all")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click()


async def sign_in_by_email(page: Page, email: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Work email address").fill(email)
    await page.get_by_role("button", name="Continue").click()


async def audit_actions(settings: Settings, tenant_id: str) -> list[tuple[str, str, str]]:
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as db:
            rows = await db.scalars(
                select(AuditEvent).where(AuditEvent.tenant_id == uuid.UUID(tenant_id)).order_by(AuditEvent.id)
            )
            return [(e.action, e.outcome, e.actor) for e in rows]
    finally:
        await engine.dispose()


async def test_a_member_of_a_cannot_sign_in_to_b(page: Page, world: SsoWorld) -> None:
    await page.goto("/login")
    await snap(page, "sso-01-login-page")
    await sign_in_by_email(page, "alice@a-corp.example")
    await at_provider(page, world.a.provider, "alice")

    # In tenant A, as its admin (the provider's groups claim said so): shown on every page.
    await expect(page).to_have_url(re.compile(rf"/t/{world.a.slug}$"))
    header = page.get_by_role("navigation", name="Main")
    await expect(header).to_contain_text("Alice Anders")
    await expect(header).to_contain_text("alice@a-corp.example")
    await expect(page.locator("#acting-tenant")).to_contain_text(f"Acting in {world.a.name}")
    await expect(page.locator("#acting-tenant")).to_contain_text("tenant admin")
    await expect(page.locator("#flashes")).to_contain_text(
        f"Signed in to {world.a.name} as alice@a-corp.example"
    )
    await snap(page, "sso-02-signed-in-tenant-a-admin")

    # Tenant B does not exist for her ...
    response = await page.goto(f"/t/{world.b.slug}")
    assert response is not None and response.status == 404
    # ... and its provider does not make her a member of it. Signed in already, the sign-in link
    # asks before it takes her to B's provider (a GET never starts it for a signed-in browser).
    await page.goto(f"/t/{world.b.slug}/login")
    await expect(page.locator("#sso-start")).to_contain_text(f"Sign in to {world.b.name}")
    await snap(page, "sso-02b-signed-in-asks-before-another-provider")
    await page.get_by_role("button", name=f"Continue to {world.b.name}'s sign-in").click()
    await at_provider(page, world.b.provider, "alice")
    refused = page.locator("#sign-in-refused")
    await expect(refused).to_contain_text("You were not signed in")
    await expect(refused).to_contain_text(f"You are not a member of {world.b.name}")
    await snap(page, "sso-03-refused-by-tenant-b")
    actions = await audit_actions(world.settings, world.b.id)
    assert any(a == "auth.sign_in" and o == "failure" and who.startswith("alice") for a, o, who in actions)


async def test_a_jit_member_gets_the_member_role(page: Page, world: SsoWorld) -> None:
    await page.goto(f"/t/{world.a.slug}/login")
    await at_provider(page, world.a.provider, "bob")
    await expect(page.locator("#acting-tenant")).to_contain_text("tenant member")
    response = await page.goto(f"/t/{world.a.slug}/sso")
    assert response is not None and response.status == 403


async def test_an_invited_person_lands_in_the_right_tenant_with_the_right_role(
    page: Page, world: SsoWorld
) -> None:
    engine = create_engine(world.settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as db:
            tenant = await db.get(Tenant, uuid.UUID(world.b.id))
            issued = await members.invite(
                db, world.settings, Actor.system("e2e"), tenant, email="erin@b-corp.example", role="admin"
            )
    finally:
        await engine.dispose()
    link = issued.link.removeprefix(world.url)
    await page.goto(link)
    await snap(page, "sso-04-invitation")
    await page.get_by_role("button", name=re.compile("Sign in with .* identity provider to accept")).click()
    await at_provider(page, world.b.provider, "erin")
    await expect(page).to_have_url(re.compile(rf"/t/{world.b.slug}$"))
    await expect(page.locator("#acting-tenant")).to_contain_text(f"Acting in {world.b.name}")
    await expect(page.locator("#acting-tenant")).to_contain_text("tenant admin")
    await expect(page.locator("#flashes")).to_contain_text("your invitation is accepted")
    await snap(page, "sso-05-invited-admin-in-tenant-b")
    # The link works once.
    await page.goto(link)
    await expect(page.locator("#invitation")).to_contain_text("cannot be used")


async def test_sign_out_ends_the_providers_session_too(page: Page, world: SsoWorld) -> None:
    await sign_in_by_email(page, "alice@a-corp.example")
    await at_provider(page, world.a.provider, "alice")
    await expect(page.locator("#acting-tenant")).to_be_visible()
    await page.locator("#user-menu summary").click()  # Sign out is in the account menu
    await page.get_by_role("button", name="Sign out").click()
    # The provider asks before ending its own session, then sends the browser back.
    await page.get_by_role("button", name="Yes, sign me out").click()
    await expect(page).to_have_url(re.compile(r"/login\?signed_out=true$"))
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await snap(page, "sso-06-signed-out")
    response = await page.goto(f"/t/{world.a.slug}")
    assert response is not None
    await expect(page).to_have_url(re.compile(r"/login\?next="))


async def test_the_sso_settings_page_and_discovery_test(page: Page, world: SsoWorld) -> None:
    await sign_in(page)
    await page.goto(f"/t/{world.a.slug}/sso")
    await expect(page.get_by_label("Redirect URL (exact)")).to_have_value(f"{world.url}/auth/callback")
    await expect(page.locator("#secret-hint")).to_contain_text("...")
    await page.get_by_role("button", name="Test discovery").click()
    await expect(page.locator("#discovery_result")).to_contain_text("Discovery works.")
    await expect(page.locator("#discovery_result")).to_contain_text("PKCE S256 supported")
    await snap(page, "sso-07-settings-discovery-works")
    # A mistake is shown beside its field.
    await page.get_by_label("Scopes").fill("profile email")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#f-scopes + small#e-scopes")).to_have_text("must include openid")
    await snap(page, "sso-08-settings-error-beside-field")


async def test_a_domain_two_tenants_share_offers_a_picker(page: Page, world: SsoWorld) -> None:
    await sign_in_by_email(page, "someone@shared-corp.example")
    await expect(page.get_by_role("heading", name="Choose your organisation")).to_be_visible()
    await snap(page, "sso-09-tenant-picker")
    await page.get_by_role("button", name=world.b.name).click()
    await expect(page).to_have_url(re.compile("^" + re.escape(world.b.provider.issuer) + "/"))


async def _credential_and_custom_provider(world: SsoWorld) -> None:
    """Tenant A gets a credential and a custom provider with a model, so the pages have rows to act on."""
    async with httpx.AsyncClient(base_url=world.url, headers={"X-API-Key": API_KEY}) as api:
        stored = await api.put(
            f"/api/v1/sysadmin/tenants/{world.a.id}/credentials/mistral", json={"api_key": "sk-roles-0001"}
        )
        assert stored.status_code == 200, stored.text
        listed = (await api.get(f"/api/portal/tenants/{world.a.id}/providers")).json()
        if not any(p["name"] == "roles-gw" for p in listed):
            made = await api.post(
                f"/api/portal/tenants/{world.a.id}/providers",
                json={"name": "roles-gw", "base_url": "http://127.0.0.1:9/v1", "models": ["m1"]},
            )
            assert made.status_code == 201, made.text


async def test_each_role_sees_what_it_may_do(chromium: Browser, world: SsoWorld) -> None:
    """A member (bob, joined just in time) gets read-only credentials and providers pages; an admin
    (alice, in the admins' group) gets the forms, but no Settings tab (platform admins only)."""
    await _credential_and_custom_provider(world)
    for login, email, role in (
        ("bob", "bob@a-corp.example", "member"),
        ("alice", "alice@a-corp.example", "admin"),
    ):
        context = await new_context(chromium, world.url)
        page = await context.new_page()
        await sign_in_by_email(page, email)
        await at_provider(page, world.a.provider, login)
        await expect(page.locator("#acting-tenant")).to_contain_text(f"tenant {role}")
        tabs = page.get_by_role("navigation", name="Tenant")
        await expect(tabs.get_by_role("link", name="Settings")).to_have_count(0)
        await expect(tabs.get_by_role("link", name="Members")).to_have_count(1 if role == "admin" else 0)

        await page.goto(f"/t/{world.a.slug}/credentials")
        await expect(page.locator("#credential-mistral")).to_be_visible()
        actions = 1 if role == "admin" else 0
        await expect(page.get_by_role("button", name="Save credential")).to_have_count(actions)
        await expect(page.locator("#credential-mistral").get_by_role("button", name="Delete")).to_have_count(
            actions
        )
        await expect(
            page.locator("#credential-mistral").get_by_role("button", name="Test connection")
        ).to_be_visible()
        await snap(page, f"roles-01-credentials-as-{role}")

        await page.goto(f"/t/{world.a.slug}/providers")
        await expect(page.get_by_role("button", name="Add provider")).to_have_count(actions)
        await snap(page, f"roles-02-providers-as-{role}")
        await page.get_by_role("link", name=re.compile("^roles-gw")).click()
        await expect(page.get_by_role("cell", name="m1", exact=True)).to_be_visible()
        await expect(page.get_by_role("button", name=re.compile("^(Enable|Disable)$"))).to_have_count(actions)
        await expect(page.get_by_role("button", name="Add model")).to_have_count(actions)
        await expect(page.get_by_role("button", name="Delete provider…")).to_have_count(actions)
        await snap(page, f"roles-03-custom-provider-as-{role}")
        await context.close()
