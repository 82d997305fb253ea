"""In a real browser: a tenant admin creates an API key with a limit (the secret shown once, copied
with the button), a service resolves and reports usage with it, the usage shows on the chart, the
key is refused at its limit; then rotate (a new secret, once) and revoke (after confirming)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.support.browser import signed_in_with_tenant, snap

pytestmark = pytest.mark.browser

SERVICE_PROVIDER_KEY = "sk-e2e-openai-" + uuid.uuid4().hex[:16]


async def test_api_key_journey(browser_page: Page, live_server: LiveServer) -> None:
    page = browser_page
    slug = await signed_in_with_tenant(page, live_server.url, "keys", SERVICE_PROVIDER_KEY)

    await page.goto(f"/t/{slug}")
    await page.get_by_role("navigation", name="Tenant").get_by_role("link", name="API keys").click()
    await expect(page).to_have_url(re.compile(rf"/t/{slug}/api-keys$"))
    await expect(page.get_by_text("0 keys.")).to_be_visible()

    # Create: a name is required (said beside the field), then a key with a one-dollar limit.
    form = page.locator("#create_key")
    await form.get_by_label("Name").fill("   ")
    await form.get_by_role("button", name="Create API key").click()
    await expect(page.locator("#f-name")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#e-name")).to_contain_text("required")
    await form.get_by_label("Name").fill("prod-web-resolver-202611")
    # New keys call models through the gateway; this service resolves and reports itself.
    await form.get_by_label("resolve", exact=True).check()
    await form.get_by_label("usage:write", exact=True).check()
    await page.get_by_label("Spend limit (USD)").fill("1.00")
    await page.get_by_label("Resets").select_option("daily")
    await page.get_by_label("Metadata (JSON object)").fill('{"env": "prod"}')
    await form.get_by_role("button", name="Create API key").click()

    await expect(page.get_by_role("heading", name="API key prod-web-resolver-202611 created")).to_be_visible()
    await expect(page.locator("#flashes")).to_contain_text("shown only once")
    secret = await page.get_by_label("API key").input_value()
    assert re.fullmatch(rf"{slug}_sk_[A-Za-z0-9_-]{{43}}", secret)
    await page.get_by_role("button", name="Copy", exact=True).click()
    await expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    await snap(page, "keys-01-created-secret-shown-once")

    # Never again: not on the key's page, not in the list, not after going back.
    await page.get_by_role("button", name="I have copied it").click()
    await expect(page.get_by_role("heading", name="prod-web-resolver-202611")).to_be_visible()
    assert secret not in await page.content()
    key_page = page.url
    await page.goto(f"/t/{slug}/api-keys")
    assert secret not in await page.content()
    await expect(page.get_by_text(f"{secret[: len(slug) + 8]}…{secret[-4:]}")).to_be_visible()

    # A service resolves the credential and reports usage with it.
    async with httpx.AsyncClient(
        base_url=live_server.url, headers={"Authorization": f"Bearer {secret}"}
    ) as svc:
        resolved = await svc.post("/api/v1/resolve", json={"provider": "openai", "model": "gpt-4o"})
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["secrets"]["api_key"] == SERVICE_PROVIDER_KEY
        usage = {
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 900,
            "output_tokens": 100,
            "cost": 1,
        }
        reported = await svc.post("/api/v1/usage", json=usage, headers={"Idempotency-Key": "e2e-1"})
        assert reported.status_code == 201, reported.text
        refused = await svc.post("/api/v1/resolve", json={"provider": "openai", "model": "gpt-4o"})
        assert refused.status_code == 429 and refused.json()["code"] == "limit_reached"

    # The usage is on the key's chart, with the share of the limit and the warning.
    await page.goto(key_page)
    await expect(page.get_by_role("alert")).to_contain_text("This key has used 100% of its spend limit")
    chart = page.get_by_role("img", name=re.compile("Daily spend of prod-web-resolver-202611"))
    await expect(chart).to_be_visible()
    await expect(chart.locator("rect.bar title").filter(has_text="$1.00, 1 request")).to_have_count(1)
    await expect(page.get_by_label("Share of the spend limit used")).to_have_attribute("value", "1.0")
    await snap(page, "keys-02-usage-on-the-chart-limit-reached")
    await page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Usage").click()
    await expect(page.get_by_role("img", name=re.compile("Daily spend of"))).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("prod-web-resolver-202611")

    # Rotate: a new secret, shown once; the old key keeps working for the grace period.
    await page.goto(key_page)
    await page.get_by_role("button", name="Rotate…").click()
    await page.get_by_label("Grace period").fill("1h")
    await page.get_by_role("button", name="Rotate API key").click()
    await expect(page.get_by_role("heading", name="New key for prod-web-resolver-202611")).to_be_visible()
    new_secret = await page.get_by_label("API key").input_value()
    assert new_secret != secret and new_secret.startswith(f"{slug}_sk_")
    await expect(page.get_by_text("keeps working until")).to_be_visible()
    await snap(page, "keys-03-rotated-new-secret")
    await page.goto(key_page)
    await expect(page.get_by_text("rotating (grace)")).to_be_visible()
    assert new_secret not in await page.content()

    # Revoke, after a confirmation page.
    await page.get_by_role("button", name="Revoke…").click()
    await expect(
        page.get_by_role("heading", name="Revoke the API key prod-web-resolver-202611?")
    ).to_be_visible()
    await page.get_by_role("button", name="Revoke API key").click()
    await expect(page).to_have_url(re.compile(rf"/t/{slug}/api-keys$"))
    await expect(page.locator("#flashes")).to_contain_text("revoked.")
    await snap(page, "keys-04-revoked")
    async with httpx.AsyncClient(
        base_url=live_server.url, headers={"Authorization": f"Bearer {secret}"}
    ) as svc:
        gone = await svc.post("/api/v1/resolve", json={"provider": "openai", "model": "gpt-4o"})
        assert gone.status_code == 401 and gone.json()["code"] == "key_revoked"
