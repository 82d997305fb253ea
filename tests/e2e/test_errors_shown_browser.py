"""A refused or failed htmx action says why in the flash area, in place; a plain form post that is
refused gets an error page with a way back."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer
from tests.support.browser import PROVIDER_KEY, accept_next_dialog, sign_in, snap, tenant_with_openai_key
from tests.support.env import API_KEY

pytestmark = pytest.mark.browser


async def _credential_row(page: Page, live_server: LiveServer) -> tuple[Locator, str]:
    """A fresh tenant with an OpenAI credential, shown to the signed-in admin: its row and the slug."""
    slug = await tenant_with_openai_key(live_server.url, "err", PROVIDER_KEY)
    await sign_in(page)
    await page.goto(f"/t/{slug}/credentials")
    row = page.locator("#credential-openai")
    await expect(row).to_be_visible()
    return row, slug


async def test_deleting_what_is_already_gone_says_so(browser_page: Page, live_server: LiveServer) -> None:
    page = browser_page
    row, slug = await _credential_row(page, live_server)
    # Someone else deletes it meanwhile.
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": API_KEY}) as api:
        gone = await api.delete(f"/api/v1/sysadmin/tenants/{slug}/credentials/openai")
        assert gone.status_code in (200, 204)

    accept_next_dialog(page)
    await row.get_by_role("button", name="Delete").click()
    flash = page.locator("#flashes [role=alert]")
    await expect(flash).to_contain_text("not found")
    await snap(page, "errors-01-already-deleted")


async def test_a_network_failure_says_so(browser_page: Page, live_server: LiveServer) -> None:
    page = browser_page
    row, _ = await _credential_row(page, live_server)
    await page.route(re.compile(r".*/test$"), lambda route: route.abort())
    await row.get_by_role("button", name="Test connection").click()
    await expect(page.locator("#flashes [role=alert]")).to_contain_text("could not be reached")
    await snap(page, "errors-02-network-failure")


async def test_a_refused_plain_post_has_a_way_back(nojs_page: Page, live_server: LiveServer) -> None:
    page = nojs_page
    await sign_in(page)
    await page.goto("/admin/tenants")
    # A form whose token has gone stale (another tab signed out and in): the CSRF check refuses it.
    await page.evaluate(
        "document.querySelectorAll('input[name=_csrf_token]').forEach(i => i.value = 'stale')"
    )
    await page.locator("#user-menu summary").click()  # Sign out is in the account menu
    form = page.locator("form[action='/logout']")
    await form.get_by_role("button").click()
    await expect(page.locator("#error-message")).to_contain_text("did not come from this site")
    await expect(page.get_by_role("link", name="Back")).to_have_attribute("href", "/admin/tenants")
    await snap(page, "errors-03-refused-form-way-back")
