"""Each role sees what it may do: every tenant page, rendered as each role, offers only actions and
links that role is allowed.

Every GET route under /t/{slug}, enumerated from app.routes, is rendered as a tenant member, a tenant
admin, a platform admin and a platform admin impersonating the tenant. Every form (action and
method), every htmx request (hx-get/post/put/patch/delete) and every link on the page is matched to
its route, and the status the access matrix expects for that route and role
(tests/integration/test_access_matrix.py EXPECTED: the one table of who may do what) must not be a
refusal (401, 403 or 404).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from tests.integration.test_access_matrix import ADMIN, EXPECTED, IMPERSONATOR, MEMBER, PLATFORM, World
from tests.support.api import new_tenant
from tests.support.rows import user_by_email
from tests.support.signin import ADMIN_EMAIL, impersonating_session, session_client

REFUSED = {401, 403, 404, 405}
HX_METHODS = {"hx-get": "GET", "hx-post": "POST", "hx-put": "PUT", "hx-patch": "PATCH", "hx-delete": "DELETE"}
TENANT_PAGES = "/t/{slug:str}"


@dataclass(frozen=True)
class Offer:
    """One thing a page offers: a request its form, htmx attribute or link would send."""

    method: str
    url: str
    how: str  # e.g. "form", "hx-post", "a href"


class _Offers(HTMLParser):
    """Every form, htmx request and link of a page, with URLs made absolute against the page."""

    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.offers: list[Offer] = []
        self.form_method = "GET"

    def _add(self, method: str, url: str | None, how: str) -> None:
        if url is None:
            return
        full = urljoin(f"http://portal{self.page_url}", url)
        parts = urlsplit(full)
        if parts.netloc != "portal" or parts.scheme not in ("http", "https"):
            return  # another site, mailto:, javascript:
        if url.startswith("#"):
            return  # a place on this page
        self.offers.append(Offer(method.upper(), parts.path, how))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.form_method = (a.get("method") or "get").upper()
            self._add(self.form_method, a.get("action") or self.page_url, "form")
        if tag in ("button", "input") and a.get("formaction"):
            self._add(a.get("formmethod") or self.form_method, a["formaction"], "formaction")
        if tag in ("a", "area") and a.get("href") is not None:
            self._add("GET", a["href"], f"{tag} href")
        for attribute, method in HX_METHODS.items():
            if a.get(attribute) is not None:
                self._add(method, a[attribute], attribute)


def offers_of(page_url: str, html: str) -> list[Offer]:
    parser = _Offers(page_url)
    parser.feed(html)
    return parser.offers


def _pattern(template: str) -> re.Pattern[str]:
    """A route's path template as a regular expression ({x:str} one segment, {x:path} the rest)."""
    out, last = "", 0
    for m in re.finditer(r"\{(\w+):(\w+)\}", template):
        out += re.escape(template[last : m.start()])
        out += {"path": r"/?.*", "uuid": r"[0-9a-fA-F-]{36}"}.get(m.group(2), r"[^/]+")
        last = m.end()
    return re.compile(out + re.escape(template[last:]))


def _routes(app: Litestar) -> list[tuple[str, str, re.Pattern[str]]]:
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            found += [(method, route.path, _pattern(route.path)) for method in route.methods]
    return found


def route_of(routes: list[tuple[str, str, re.Pattern[str]]], method: str, path: str) -> str | None:
    """The path template a request goes to: the most specific one (fewest parameters) that matches."""
    matching = [t for m, t, p in routes if m == method and p.fullmatch(path)]
    return min(matching, key=lambda t: (t.count("{"), -len(t)), default=None)


def refusal(routes: list[tuple[str, str, re.Pattern[str]]], role: str, offer: Offer) -> str | None:
    """Why this role may not do what the offer sends (None: it may), by the access matrix's rules."""
    template = route_of(routes, offer.method, offer.url)
    if template is None:
        return "no such route"
    row = EXPECTED.get((offer.method, template))
    if row is None:
        return f"{template} is not in the access matrix"
    status = row.expected(template)[role]
    # A refusal the row gives every caller alike (a public route's 404 for a resource its setup
    # left out) says nothing about the role.
    refused = status in REFUSED and status != row.ok
    return f"the access matrix answers {status} ({template})" if refused else None


async def _fill_world(app: Litestar, api: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, str]]:
    tenant = await new_tenant(api, name="Roles T")
    world = World(app, api, tenant, {"slug": tenant["slug"], "tenant_id": tenant["id"]})
    for setup in ("credential", "custom_provider", "custom_model", "invitation", "api_key", "federation"):
        world.values.update(await getattr(world, setup)())
    return tenant, world.values


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], template)


async def test_every_tenant_page_offers_each_role_only_what_it_may_do(app, api, make):
    tenant, values = await _fill_world(app, api)
    member = await make.member(tenant["id"], "member")
    admin = await make.member(tenant["id"], "admin")
    values["user_id"] = str(member.id)
    platform_admin = await user_by_email(app, ADMIN_EMAIL)
    assert platform_admin is not None
    signed_in: dict[str, AbstractAsyncContextManager[httpx.AsyncClient]] = {
        MEMBER: session_client(app, member.id),
        ADMIN: session_client(app, admin.id),
        PLATFORM: session_client(app, platform_admin.id),
        IMPERSONATOR: impersonating_session(app, ADMIN_EMAIL, tenant),
    }
    routes = _routes(app)
    pages = sorted(
        {t for m, t, _ in routes if m == "GET" and (t == TENANT_PAGES or t.startswith(TENANT_PAGES + "/"))}
    )
    problems: list[str] = []
    rendered: dict[str, int] = {}
    for role, session in signed_in.items():
        async with session as client:
            async for line in _check_pages(client, role, pages, values, routes, rendered):
                problems.append(line)
    assert rendered[MEMBER] >= 6 and rendered[ADMIN] > rendered[MEMBER], rendered
    assert rendered[PLATFORM] > rendered[ADMIN], rendered
    assert not problems, f"{len(problems)} offers the role may not use:\n" + "\n".join(problems)


async def _check_pages(
    client: httpx.AsyncClient,
    role: str,
    pages: list[str],
    values: dict[str, str],
    routes: list[tuple[str, str, re.Pattern[str]]],
    rendered: dict[str, int],
) -> AsyncIterator[str]:
    rendered.setdefault(role, 0)
    for template in pages:
        url = _fill(template, values)
        response = await client.get(url)
        expected = EXPECTED[("GET", template)].expected(template)[role]
        if expected == 200 and response.status_code != 200:
            yield f"{role:12} GET {template}: expected 200, got {response.status_code}"
        if response.status_code != 200 or not response.headers["content-type"].startswith("text/html"):
            continue
        rendered[role] += 1
        for offer in offers_of(url, response.text):
            why = refusal(routes, role, offer)
            if why:
                yield f"{role:12} on {template:50} {offer.how:10} {offer.method:6} {offer.url}: {why}"
