"""In a real browser, under the portal's Content-Security-Policy: the main pages, their htmx
interactions, the copy buttons and Swagger UI work, and Chromium reports no CSP violation (it logs
each refused script, style, image or connection to the console)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from tests.e2e.conftest import LiveServer
from tests.support.browser import sign_in
from tests.support.env import API_KEY

pytestmark = pytest.mark.browser

VIOLATION = re.compile(
    r"Content Security Policy|Refused to (load|execute|apply|connect|frame|evaluate)", re.I
)


@pytest.fixture
async def watched_page(browser_page: Page) -> AsyncIterator[tuple[Page, list[str]]]:
    """The page, and every CSP violation or script error it reports."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if VIOLATION.search(message.text):
            problems.append(f"{browser_page.url}: {message.text}")

    browser_page.on("console", on_console)
    browser_page.on("pageerror", lambda error: problems.append(f"{browser_page.url}: {error}"))
    yield browser_page, problems


async def _tenant(live_server: LiveServer) -> str:
    slug = f"csp-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": API_KEY}) as client:
        created = await client.post("/api/v1/sysadmin/tenants", json={"name": f"CSP {slug}", "slug": slug})
        assert created.status_code == 201, created.text
    return slug


async def test_the_console_reports_violations_when_there_are_some(watched_page, live_server):
    """The control: the listener does see a violation (an inline script added to a served page)."""
    page, problems = watched_page
    await page.goto("/login")
    async with page.expect_console_message(lambda message: bool(VIOLATION.search(message.text))):
        await page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.x = 1'; "
            "document.head.appendChild(s); }"
        )
    assert problems
    assert await page.evaluate("window.x") is None


async def test_main_pages_work_without_csp_violations(watched_page, live_server):
    page, problems = watched_page
    slug = await _tenant(live_server)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    await page.goto("/login")
    await sign_in(page)

    # htmx at work: the live filter of the tenant list swaps the list in place.
    await page.goto("/admin/tenants")
    await page.locator("#f-q").fill(slug)
    await expect(page.locator("#tenant_list")).to_contain_text(f"CSP {slug}")
    await expect(page).to_have_url(re.compile(rf"q={slug}"))

    for path in ("/admin/catalog", "/admin/users", "/admin/audit", "/admin/tenants/new"):
        await page.goto(path)
        await expect(page.locator("main")).to_be_visible()

    for tab in ("", "/credentials", "/providers", "/members", "/sso", "/usage", "/audit", "/settings"):
        await page.goto(f"/t/{slug}{tab}")
        await expect(page.locator("main")).to_be_visible()

    # The copy buttons (static/portal.js, no inline handlers).
    await page.goto(f"/t/{slug}/sso")
    redirect_url = await page.locator("#redirect-url").input_value()
    await page.locator("#redirect-url + button").click()
    await expect(page.locator("#redirect-url + button")).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == redirect_url

    await page.goto(f"/t/{slug}/api-keys")
    form = page.locator("#create_key")
    await form.get_by_label("Name").fill("csp-key")
    await form.get_by_role("button", name="Create API key").click()
    secret = await page.get_by_label("API key").input_value()
    await page.get_by_role("button", name="Copy", exact=True).click()
    await expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert await page.evaluate("navigator.clipboard.readText()") == secret

    # A page the router answers itself.
    await page.goto("/no/such/page")
    await expect(page.get_by_text("There is nothing here.")).to_be_visible()

    # The form selects still get Pico's icons (data: images, allowed by img-src).
    await page.goto("/admin/tenants")
    assert not problems, "\n".join(problems)


async def test_swagger_ui_runs_from_static_without_violations(watched_page, live_server):
    page, problems = watched_page
    other_origins: list[str] = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith(live_server.url) else other_origins.append(request.url)
        ),
    )
    await page.goto("/schema")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("LLM credentials portal")
    await expect(page.locator(".opblock").first).to_be_visible()
    await page.locator(".opblock-summary").first.click()
    await expect(page.locator(".opblock-body").first).to_be_visible()
    assert not other_origins, other_origins
    assert not problems, "\n".join(problems)
