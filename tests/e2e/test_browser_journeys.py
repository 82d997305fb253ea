"""End-to-end journeys in a real browser: sign in, tenants, a provider credential, no-JS fallback."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.support.browser import PROVIDER_KEY, accept_next_dialog, sign_in, snap
from tests.support.env import API_KEY

pytestmark = pytest.mark.browser

LAST_FOUR = PROVIDER_KEY[-4:]
HINT = "..." + LAST_FOUR


def _suffix() -> str:
    return uuid.uuid4().hex[:8]


async def _mark_document(page: Page) -> None:
    """Tag the current document: the tag survives htmx swaps and is lost on a full navigation."""
    await page.evaluate("window.__e2eSameDocument = true")


async def _assert_same_document(page: Page) -> None:
    assert await page.evaluate("window.__e2eSameDocument === true"), "the page was reloaded"


async def _create_tenant_by_api(live_server: LiveServer, name: str, slug: str) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": API_KEY}) as client:
        response = await client.post("/api/v1/sysadmin/tenants", json={"name": name, "slug": slug})
    assert response.status_code == 201, response.text


async def test_credential_journey(browser_page: Page, live_server: LiveServer) -> None:
    page = browser_page
    suffix = _suffix()
    name, slug = f"Acme {suffix}", f"acme-{suffix}"

    await sign_in(page, shot="00-login")
    await snap(page, "01-signed-in-tenant-list")

    # A new tenant through the form.
    await page.get_by_role("button", name="New tenant").click()
    await expect(page).to_have_url(re.compile(r"/admin/tenants/new$"))
    await page.get_by_label("Name").fill(name)
    slug_field = page.get_by_label("Slug")
    slug_error = page.locator("#f-slug + small#e-slug")

    # A malformed slug, then a taken one: each refused beside the field, in place.
    await _mark_document(page)
    await slug_field.fill("Acme Corp!")
    await page.get_by_role("button", name="Create tenant").click()
    await expect(slug_field).to_have_attribute("aria-invalid", "true")
    await expect(slug_error).to_contain_text("lowercase letters, digits")
    await expect(page.get_by_label("Name")).to_have_value(name)
    await _create_tenant_by_api(live_server, f"Taken {suffix}", f"taken-{suffix}")
    await slug_field.fill(f"taken-{suffix}")
    await page.get_by_role("button", name="Create tenant").click()
    await expect(slug_error).to_have_text(f"The slug 'taken-{suffix}' is taken; choose another")
    await _assert_same_document(page)
    await snap(page, "02-new-tenant-slug-taken")

    await slug_field.fill(slug)
    await page.get_by_role("button", name="Create tenant").click()
    await expect(page).to_have_url(re.compile(rf"/t/{slug}$"))
    await expect(page.locator("#flashes")).to_contain_text(f"Tenant {name} created.")
    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    await snap(page, "03-tenant-created-overview")

    # Its Credentials tab.
    await page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Credentials").click()
    await expect(page).to_have_url(re.compile(rf"/t/{slug}/credentials$"))
    await expect(page.get_by_text("No credentials of its own yet")).to_be_visible()
    await snap(page, "04-credentials-empty")

    # Choosing Azure OpenAI swaps its fields in, in place.
    await _mark_document(page)
    endpoint = page.get_by_label("Endpoint")
    await expect(endpoint).to_have_count(0)
    await page.get_by_label("Provider").select_option(label="Azure OpenAI")
    await expect(endpoint).to_be_visible()
    await expect(page.get_by_label("API version")).to_be_visible()
    await expect(page.get_by_label("Deployment name")).to_be_visible()
    await expect(page.get_by_label("API key")).to_have_attribute("type", "password")
    await expect(page).to_have_url(re.compile(rf"/t/{slug}/credentials$"))
    await _assert_same_document(page)
    await snap(page, "05-azure-fields-swapped-in")

    # An empty required field is stopped by the browser before anything is sent...
    form = page.locator("#credential_form")
    deployment = page.get_by_label("Deployment name")
    await page.get_by_label("API key").fill(PROVIDER_KEY)
    await endpoint.fill(live_server.stub.url)
    await page.get_by_label("API version").fill("2024-10-21")
    await page.evaluate(
        "window.__e2eInvalid = [];"
        "document.addEventListener('invalid', e => window.__e2eInvalid.push(e.target.name), true)"
    )
    await form.get_by_role("button", name="Save credential").click()
    # The browser's own validation fired on that field, which also means it sent no request.
    await page.wait_for_function("window.__e2eInvalid.includes('deployment_name')")
    assert await deployment.evaluate("el => el.validity.valueMissing")
    await expect(page.locator("#f-deployment_name[aria-invalid='true']")).to_have_count(0)

    # ... and one left blank (only spaces) is refused by the server, beside the field.
    await deployment.fill("   ")
    await form.get_by_role("button", name="Save credential").click()
    await expect(deployment).to_have_attribute("aria-invalid", "true")
    error = page.locator("#f-deployment_name + small#e-deployment_name")  # right after the input
    await expect(error).to_have_text("required for Azure OpenAI")
    await expect(deployment).to_have_attribute("aria-describedby", "e-deployment_name")
    await expect(form.get_by_role("alert")).to_contain_text("Deployment name")
    await expect(endpoint).to_have_value(live_server.stub.url)  # the plain fields are kept
    await expect(page.get_by_label("API key")).to_have_value("")  # the secret is never sent back
    await expect(page.get_by_label("Provider")).to_have_value("azure")
    await _assert_same_document(page)
    assert PROVIDER_KEY not in await page.content()
    await snap(page, "06-missing-field-error-beside-field")

    # All fields: saved, sealed, shown only as a masked hint.
    await page.get_by_label("API key").fill(PROVIDER_KEY)
    await deployment.fill("gpt-4o-prod")
    await form.get_by_role("button", name="Save credential").click()
    await expect(page.locator("#flashes")).to_contain_text(f"Credential for Azure OpenAI saved (key {HINT}).")
    row = page.locator("#credential-azure")
    await expect(row).to_contain_text(HINT)
    await expect(row).to_contain_text("gpt-4o-prod")
    await expect(row).to_contain_text("2024-10-21")
    await expect(row).to_contain_text("not tested")
    assert PROVIDER_KEY not in await page.content()
    await snap(page, "07-credential-saved-masked-hint")

    # Test connection: the result appears in place, and the stub got the key in the api-key header.
    await _mark_document(page)
    seen = len(live_server.stub.requests)
    await row.get_by_role("button", name="Test connection").click()
    await expect(row.locator("#test_azure")).to_contain_text("Connection works")
    await _assert_same_document(page)
    calls = live_server.stub.requests[seen:]
    assert [c["path"] for c in calls] == ["/openai/models?api-version=2024-10-21"]
    assert calls[0]["api-key"] == PROVIDER_KEY
    assert PROVIDER_KEY not in await page.content()
    await snap(page, "08-connection-works")

    # Delete, confirming in the browser's dialog.
    dialogs = accept_next_dialog(page)
    await row.get_by_role("button", name="Delete").click()
    await expect(page.locator("#flashes")).to_contain_text("Credential for Azure OpenAI deleted.")
    await expect(page.locator("#credential-azure")).to_have_count(0)
    await expect(page.get_by_text("No credentials of its own yet")).to_be_visible()
    assert len(dialogs) == 1
    assert dialogs[0].startswith(f"Delete the Azure OpenAI credential of {name}?")
    await snap(page, "09-credential-deleted")


async def test_tenant_search_suspend_and_delete(browser_page: Page, live_server: LiveServer) -> None:
    page = browser_page
    suffix = _suffix()
    wanted_name, wanted_slug = f"Zephyr {suffix}", f"zephyr-{suffix}"
    other_name = f"Quasar {suffix}"
    await _create_tenant_by_api(live_server, wanted_name, wanted_slug)
    await _create_tenant_by_api(live_server, other_name, f"quasar-{suffix}")

    await sign_in(page)
    tenants = page.locator("#tenant_list")
    await expect(tenants).to_contain_text(other_name)

    # The search narrows the list in place as one types.
    await _mark_document(page)
    await page.get_by_role("searchbox", name="Search by name or slug").fill(f"zephyr {suffix}")
    await expect(tenants).to_contain_text(f"1 tenant matching “zephyr {suffix}”.")
    await expect(tenants.get_by_role("link", name=wanted_name)).to_be_visible()
    await expect(tenants).not_to_contain_text(other_name)
    await expect(page).to_have_url(re.compile(r"[?&]q=zephyr"))
    await _assert_same_document(page)
    await snap(page, "10-tenant-search-narrowed")

    # Suspend from the settings tab, confirming the dialog.
    await tenants.get_by_role("link", name=wanted_name).click()
    await page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Settings").click()
    await expect(page).to_have_url(re.compile(rf"/t/{wanted_slug}/settings$"))
    dialogs = accept_next_dialog(page)
    await page.get_by_role("button", name="Suspend tenant").click()
    await expect(page.locator("#flashes")).to_contain_text(f"Tenant {wanted_name} suspended.")
    await expect(page.get_by_role("navigation", name="Tenant")).to_contain_text("suspended")
    await expect(page.get_by_role("button", name="Reactivate tenant")).to_be_visible()
    assert dialogs == [f"Suspend {wanted_name}?"]
    await snap(page, "11-tenant-suspended")

    # Delete: a wrong slug is refused beside the field; the right one deletes.
    await page.get_by_role("button", name="Delete tenant…").click()
    await expect(page).to_have_url(re.compile(rf"/t/{wanted_slug}/delete$"))
    confirm = page.get_by_label(re.compile("Type the slug"))
    await confirm.fill(f"quasar-{suffix}")
    await page.get_by_role("button", name="Delete for good").click()
    await expect(confirm).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#f-confirm_slug + small#e-confirm_slug")).to_have_text(
        f"type the tenant's slug, {wanted_slug}, to confirm"
    )
    await expect(confirm).to_have_value("")
    await snap(page, "12-tenant-delete-wrong-slug")

    await confirm.fill(wanted_slug)
    await page.get_by_role("button", name="Delete for good").click()
    await expect(page).to_have_url(re.compile(r"/admin/tenants$"))
    await expect(page.locator("#flashes")).to_contain_text(
        f"Tenant {wanted_name} deleted; its data key was destroyed first."
    )
    await expect(tenants).not_to_contain_text(wanted_name)
    await expect(tenants).to_contain_text(other_name)
    await snap(page, "13-tenant-deleted")


async def test_without_javascript(nojs_page: Page, live_server: LiveServer) -> None:
    page = nojs_page
    suffix = _suffix()
    name, slug = f"Plain {suffix}", f"plain-{suffix}"

    await sign_in(page)
    await page.goto("/admin/tenants/new")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Slug").fill(slug)
    await page.get_by_role("button", name="Create tenant").click()
    await expect(page).to_have_url(re.compile(rf"/t/{slug}$"))
    await expect(page.locator("#flashes")).to_contain_text(f"Tenant {name} created.")

    await page.goto(f"/t/{slug}/credentials")
    await page.get_by_label("Provider").select_option(label="Azure OpenAI")
    await expect(page.get_by_label("Endpoint")).to_have_count(0)  # nothing swaps without JavaScript
    await page.get_by_role("button", name="Show this provider's fields").click()
    # Only the provider goes into the URL: never a typed key, nor the CSRF token.
    await expect(page).to_have_url(re.compile(rf"/t/{slug}/credentials\?provider=azure$"))
    await expect(page.get_by_label("Provider")).to_have_value("azure")
    await expect(page.get_by_label("Endpoint")).to_be_visible()
    await snap(page, "20-nojs-azure-fields")

    await page.get_by_label("Label").fill("Production")
    await page.get_by_label("API key").fill(PROVIDER_KEY)
    await page.get_by_label("Endpoint").fill(live_server.stub.url)
    await page.get_by_label("API version").fill("2024-10-21")
    await page.get_by_label("Deployment name").fill("gpt-4o-prod")
    await page.get_by_role("button", name="Save credential").click()
    await expect(page).to_have_url(re.compile(rf"/t/{slug}/credentials$"))
    await expect(page.locator("#flashes")).to_contain_text(f"Credential for Azure OpenAI saved (key {HINT}).")
    row = page.locator("#credential-azure")
    await expect(row).to_contain_text("Production")
    await expect(row).to_contain_text(HINT)
    assert PROVIDER_KEY not in await page.content()
    await snap(page, "21-nojs-credential-saved")

    # The connection test falls back to a post and a flash message.
    await row.get_by_role("button", name="Test connection").click()
    await expect(page.locator("#flashes")).to_contain_text("Connection to azure works.")
    await expect(page.locator("#test_azure")).to_contain_text("OK")
    await snap(page, "22-nojs-connection-tested")
