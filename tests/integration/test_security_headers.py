"""Security headers on every answer (pages, JSON, static files, redirects, errors, the router's own
404 and 405), HSTS behind https, and pages that need no inline script or style and nothing from
another origin (Swagger UI included)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest
from litestar.routes import HTTPRoute

from portal.config import REPO_ROOT
from portal.web.headers import CONTENT_SECURITY_POLICY
from tests.integration.conftest import HTTPS_URL
from tests.support.apps import client_for
from tests.support.signin import sign_in

EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def assert_hardened(response: httpx.Response, *, hsts: bool = False) -> None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    for name, value in EXPECTED.items():
        found = response.headers.get_list(name)
        if name == "referrer-policy" and found == ["no-referrer"]:
            continue  # stricter, set by the invitation pages: the token is in their URL
        assert found == [value], (where, name, found)
    assert ("strict-transport-security" in response.headers) == hsts, where


def test_the_policy_is_strict():
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    # No form-action: sign-in through a tenant's provider is a form post redirected to the provider
    # (tests/e2e/test_sso_browser.py fails with form-action 'self'); see portal.web.headers.
    assert set(directives) == {"default-src", "img-src", "frame-ancestors", "base-uri"}
    assert directives["img-src"] == "'self' data:"  # Pico's form icons; see portal.web.headers


ANSWERS = [
    ("GET", "/login", 200),
    ("GET", "/health", 200),
    ("GET", "/static/portal.css", 200),
    ("GET", "/static/vendor/htmx-2.0.11.min.js", 200),
    ("GET", "/static/nothing.js", 404),
    ("GET", "/", 303),
    ("GET", "/admin/tenants", 303),
    ("GET", "/no/such/page", 404),
    ("GET", "/api/nothing", 404),
    ("GET", "/api/v1/sysadmin/tenants", 401),
    ("DELETE", "/login", 405),
    ("POST", "/health", 405),
    ("POST", "/login", 403),  # no CSRF token
    ("GET", "/schema", 200),
    ("GET", "/schema/swagger", 200),
    ("GET", "/schema/openapi.json", 200),
    ("GET", "/schema/oauth2-redirect.html", 200),
]


@pytest.mark.parametrize(("method", "path", "status"), ANSWERS)
async def test_every_kind_of_answer_carries_the_headers(anon, method, path, status):
    response = await anon.request(method, path)
    assert response.status_code == status, response.text[:200]
    assert_hardened(response)


async def test_every_route_answers_with_the_headers(app, api):
    """Each route of app.routes, as anyone and with the platform key: whatever the status, hardened."""
    values = {"str": "x-placeholder", "uuid": "00000000-0000-0000-0000-000000000001", "path": "portal.css"}
    async with client_for(app) as anon:
        for route in app.routes:
            if not isinstance(route, HTTPRoute):
                continue
            path = re.sub(r"\{\w+:(\w+)\}", lambda m: values.get(m.group(1), "1"), route.path)
            for method in sorted(route.methods - {"OPTIONS"}):
                assert_hardened(await anon.request(method, path, follow_redirects=False))
                assert_hardened(await api.request(method, path, follow_redirects=False))


async def test_signed_in_pages_and_400s_carry_the_headers(browser_session):
    client, token = browser_session
    assert_hardened(await client.get("/admin/tenants"))
    assert_hardened(await client.get("/admin/tenants", params={"page": "0"}))
    assert_hardened(await client.post("/admin/tenants", data={"_csrf_token": token}))
    assert_hardened(
        await client.get("/admin/tenants", headers={"hx-request": "true", "hx-target": "tenant_list"})
    )


async def test_hsts_behind_https_only(https_app, app):
    transport = httpx.ASGITransport(app=https_app)
    async with httpx.AsyncClient(transport=transport, base_url=HTTPS_URL) as client:
        for path in ("/login", "/no/such/page", "/static/portal.css", "/api/nothing", "/"):
            response = await client.get(path)
            assert_hardened(response, hsts=True)
            assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    async with client_for(app) as client:
        assert_hardened(await client.get("/login"), hsts=False)


class _Refs(HTMLParser):
    """Every URL a page loads or links to, and any inline script, style or event handler."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for attribute in ("src", "href", "action", "content"):
            value = named.get(attribute)
            if value and (attribute != "content" or "://" in value or value.startswith("//")):
                self.urls.append(value)
        if tag == "style" or "style" in named:
            self.inline.append(f"<{tag} style>")
        if tag == "script" and not named.get("src"):
            self.inline.append("<script> without src")
        self.inline += [
            f"{tag} {name}=" for name in named if name.startswith("on") or name.startswith("hx-on")
        ]


def refs(html: str) -> _Refs:
    parser = _Refs()
    parser.feed(html)
    return parser


def same_origin(url: str) -> bool:
    return (url.startswith("/") and not url.startswith("//")) or url.startswith("#")


async def test_swagger_ui_loads_nothing_from_another_origin(anon):
    for path in ("/schema", "/schema/swagger", "/schema/oauth2-redirect.html"):
        page = refs((await anon.get(path)).text)
        assert page.urls, path
        assert all(same_origin(url) for url in page.urls), (path, page.urls)
        assert not page.inline, (path, page.inline)
    page = refs((await anon.get("/schema")).text)
    scripts = [url for url in page.urls if url.endswith(".js")]
    assert scripts == ["/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js", "/static/swagger-init.js"]
    for url in page.urls:
        if url.startswith("/static/"):
            assert (await anon.get(url)).status_code == 200, url


async def test_signed_in_pages_have_no_inline_script_or_style(app, api):
    from tests.support.api import new_tenant

    tenant = await new_tenant(api)
    async with client_for(app) as client:
        await sign_in(client)
        for path in (
            "/admin/tenants",
            "/admin/catalog",
            "/admin/users",
            "/admin/audit",
            f"/t/{tenant['slug']}",
            f"/t/{tenant['slug']}/credentials",
            f"/t/{tenant['slug']}/api-keys",
            f"/t/{tenant['slug']}/members",
            f"/t/{tenant['slug']}/sso",
            f"/t/{tenant['slug']}/usage",
            "/no/such/page",
        ):
            page = refs((await client.get(path)).text)
            assert not page.inline, (path, page.inline)
            assert all(same_origin(url) or url.startswith("mailto:") for url in page.urls), (path, page.urls)


TEMPLATE_INLINE = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|\shx-on", re.IGNORECASE)


def test_no_template_has_inline_script_style_or_handlers():
    found = [
        f"{path.relative_to(REPO_ROOT)}: {match.group(0).strip()}"
        for path in (REPO_ROOT / "templates").rglob("*.html")
        for match in TEMPLATE_INLINE.finditer(path.read_text())
    ]
    assert not found, found


def test_htmx_injects_no_indicator_style():
    base = (REPO_ROOT / "templates" / "base.html").read_text()
    assert '"includeIndicatorStyles": false' in base
    assert ".htmx-indicator" in (REPO_ROOT / "static" / "portal.css").read_text()
