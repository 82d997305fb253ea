"""In a real browser: a tenant admin creates a key for the gateway (inference alone, with rate
limits) and its page shows, once, a ready curl command and OpenAI SDK code for a model the key may
use, copied with the buttons; the platform's catalogue shows every model's prices, and a price is
edited through its form. Screenshots: gateway-01-new-key-snippets, gateway-02-catalogue-prices,
gateway-03-price-form-error."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.support import API_KEY
from tests.support.browser import signed_in_with_tenant, snap

pytestmark = pytest.mark.browser

PROVIDER_SECRET = "sk-e2e-gateway-" + uuid.uuid4().hex[:16]


async def test_new_key_snippets_and_catalogue_prices(browser_page: Page, live_server: LiveServer) -> None:
    page = browser_page
    slug = await signed_in_with_tenant(page, live_server.url, "gw", PROVIDER_SECRET)

    await page.goto(f"/t/{slug}/api-keys")
    form = page.locator("#create_key")
    await expect(form.get_by_label("inference", exact=True)).to_be_checked()
    await expect(form.get_by_label("resolve", exact=True)).not_to_be_checked()
    await form.get_by_label("Name").fill("prod-chat-gateway-202612")
    await form.get_by_label("Requests per minute").fill("60")
    await form.get_by_label("Tokens per minute").fill("100000")
    await form.get_by_label("Allowed models").select_option("gpt-4o-mini")
    await form.get_by_role("button", name="Create API key").click()

    await expect(page.get_by_role("heading", name="Call a model with it")).to_be_visible()
    secret = await page.get_by_label("API key").input_value()
    base = f"{live_server.settings.public_url}/v1"
    curl = page.locator("#snippet-curl")
    await expect(curl).to_contain_text(f"curl {base}/chat/completions")
    await expect(curl).to_contain_text(f"Authorization: Bearer {secret}")
    await expect(curl).to_contain_text('"model": "openai/gpt-4o-mini"')
    python = page.locator("#snippet-python")
    await expect(python).to_contain_text(
        f'client = OpenAI(\n    base_url="{base}",\n    api_key="{secret}",\n)'
    )
    await page.get_by_role("button", name="Copy Python").click()
    await expect(page.locator("#snippet-status")).to_have_text("Copied to the clipboard.")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("from openai import OpenAI") and secret in copied
    await page.get_by_role("button", name="Copy curl").click()
    assert (await page.evaluate("navigator.clipboard.readText()")).startswith(f"curl {base}/chat/completions")
    assert PROVIDER_SECRET not in await page.content()
    await snap(page, "gateway-01-new-key-snippets")

    await page.get_by_role("button", name="I have copied it").click()
    await expect(page.get_by_text("60 requests and 100,000 tokens per minute")).to_be_visible()
    await expect(page.get_by_text("No calls through the gateway in the last 30 days.")).to_be_visible()

    # The platform's catalogue: prices beside each model; one edited through its form.
    await page.goto("/admin/catalog")
    await expect(page.get_by_text("$0.15 / $0.60 per 1M tokens").first).to_be_visible()
    await expect(page.get_by_text("not priced").first).to_be_visible()
    await snap(page, "gateway-02-catalogue-prices")
    await page.get_by_role("link", name="Edit the prices of xai/grok-3-mini").click()
    await expect(page.get_by_role("heading", name="Prices of xai/grok-3-mini")).to_be_visible()
    await page.get_by_label("Output (USD per 1M tokens)").fill("-2")
    await page.get_by_role("button", name="Save prices").click()
    await expect(page.locator("#e-output_usd_per_million")).to_contain_text("must not be negative")
    await expect(page.get_by_label("Output (USD per 1M tokens)")).to_have_attribute("aria-invalid", "true")
    await snap(page, "gateway-03-price-form-error")
    await page.get_by_label("Output (USD per 1M tokens)").fill("0.6")
    await page.get_by_role("button", name="Save prices").click()
    await expect(page.locator("#flashes")).to_contain_text(
        "Prices of xai/grok-3-mini: $0.30 / $0.60 per 1M tokens"
    )
    await page.goto("/admin/catalog/models/" + await _model_id(live_server, "xai", "grok-3-mini") + "/prices")
    await page.get_by_role("button", name="Back to the list prices").click()
    await expect(page.locator("#flashes")).to_contain_text("back to the list prices: $0.30 / $0.50")


async def _model_id(live_server: LiveServer, provider: str, model: str) -> str:
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": API_KEY}) as client:
        catalog = (await client.get("/api/v1/sysadmin/catalog")).json()
    return next(m["id"] for p in catalog if p["name"] == provider for m in p["models"] if m["name"] == model)
