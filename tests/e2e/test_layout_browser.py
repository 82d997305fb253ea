"""The layout fits: the main pages at 375, 768 and 1280 px are never wider than the screen, the header
is one line at 1280 px with the account menu (name, e-mail, role, Sign out) in one compact control,
and the tenant tabs sit on one row. Screenshots of every page at every width go to
test-artifacts/screenshots/ (layout-<width>-<page>.png), to be looked at."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.support.browser import PROVIDER_KEY, sign_in, snap
from tests.support.env import API_KEY

pytestmark = pytest.mark.browser

WIDTHS = (375, 768, 1280)


async def _busy_tenant(live_server: LiveServer) -> str:
    """A tenant with a long name, a credential, a key with a long name and some spend."""
    slug = f"layout-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": API_KEY}) as api:
        name = f"Northwind Traders International Holdings {slug}"
        created = await api.post("/api/v1/sysadmin/tenants", json={"name": name, "slug": slug})
        assert created.status_code == 201, created.text
        tenant_id = created.json()["id"]
        stored = await api.put(
            f"/api/v1/sysadmin/tenants/{tenant_id}/credentials/openai", json={"api_key": PROVIDER_KEY}
        )
        assert stored.status_code == 200, stored.text
        body = {
            "name": "prod-web-frontend-resolver-with-a-long-name-202611",
            "limit_usd": "1.00",
            "scopes": ["resolve", "usage:write"],
        }
        key = await api.post(f"/api/portal/tenants/{tenant_id}/api-keys", json=body)
        assert key.status_code == 201, key.text
        secret = key.json()["key"]
    async with httpx.AsyncClient(
        base_url=live_server.url, headers={"Authorization": f"Bearer {secret}"}
    ) as svc:
        usage = {
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 900,
            "output_tokens": 120,
            "cost": "0.85",
        }
        assert (await svc.post("/api/v1/usage", json=usage)).status_code == 201
    return slug


# The outermost elements that reach past the window's right edge (for the failure message).
TOO_WIDE = """() => {
  const clipped = e => { for (let a = e.parentElement; a; a = a.parentElement) {
    if (a === document.body) return false;
    if (getComputedStyle(a).overflowX !== "visible") return true; } return false; };
  return [...document.querySelectorAll("body *")]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !clipped(e))
    .slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + "." + e.className
      + " " + Math.round(e.getBoundingClientRect().right));
}"""


async def _fits(page: Page, what: str) -> None:
    wide, window = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if wide > window:
        culprits = await page.evaluate(TOO_WIDE)
        pytest.fail(f"{what}: the page is {wide} px wide in a {window} px window; too wide: {culprits}")


async def _one_line(page: Page, selector: str, what: str) -> None:
    box = await page.locator(selector).first.bounding_box()
    assert box is not None, f"{what}: {selector} is not shown"
    line = await page.locator(selector).first.evaluate(
        "e => parseFloat(getComputedStyle(e).lineHeight) || parseFloat(getComputedStyle(e).fontSize) * 1.5"
    )
    # One line of text plus the control's padding and border; two lines would add another line height.
    assert box["height"] < line * 2 + 4, (
        f"{what}: {selector} is {box['height']} px high (a line is {line} px)"
    )


async def test_main_pages_fit_at_three_widths(browser_page: Page, live_server: LiveServer) -> None:
    page = browser_page
    slug = await _busy_tenant(live_server)
    await sign_in(page)
    pages = {
        "tenants": "/admin/tenants",
        "overview": f"/t/{slug}",
        "credentials": f"/t/{slug}/credentials",
        "providers": f"/t/{slug}/providers",
        "api-keys": f"/t/{slug}/api-keys",
        "members": f"/t/{slug}/members",
        "audit": f"/t/{slug}/audit",
    }
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages.items():
            await page.goto(path)
            await expect(page.locator("main")).to_be_visible()
            await snap(page, f"layout-{width}-{name}")
            await _fits(page, f"{name} at {width} px")
            if width == 1280:
                await _one_line(page, "#user-menu summary", f"{name}: the account menu")
                header = await page.locator("header nav").bounding_box()
                brand = await page.locator("header .brand").bounding_box()
                assert header and brand and header["height"] < brand["height"] * 2 + 24, (
                    f"{name}: header wraps"
                )
                tabs = page.locator("nav.tenant-nav ul.tabs > li")
                if await tabs.count():
                    boxes = [await tabs.nth(i).bounding_box() for i in range(await tabs.count())]
                    tops = [box["y"] for box in boxes if box]
                    height = min(box["height"] for box in boxes if box)
                    assert max(tops) - min(tops) < height / 2, f"{name}: the tenant tabs wrap ({tops})"
                    await _fits(page, f"{name}: tabs")
        # The account menu opens without JavaScript's help, shows who is signed in, and still fits.
        await page.goto(f"/t/{slug}")
        await page.locator("#user-menu summary").click()
        menu = page.locator("#user-menu")
        await expect(menu.get_by_role("button", name="Sign out")).to_be_visible()
        await expect(menu).to_contain_text("platform admin")
        await snap(page, f"layout-{width}-account-menu")
        await _fits(page, f"the open account menu at {width} px")
