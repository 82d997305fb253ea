"""The browser tests' pieces: Chromium from Debian, a loopback-only context, screenshots, sign-in."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.async_api import Browser, BrowserContext, Dialog, Page, Route, expect

from portal.config import REPO_ROOT, Settings
from portal.db.migrate import upgrade
from tests.support.env import API_KEY
from tests.support.factories import Factory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

ADMIN_EMAIL = "e2e-admin@example.com"
ADMIN_PASSWORD = "e2e correct horse battery staple"
# The provider key typed into the form: 20+ characters, and accepted by the stub provider.
PROVIDER_KEY = "az-e2e-" + secrets.token_hex(12)


async def migrated_with_admin(settings: Settings) -> Settings:
    """The settings' database migrated, with the platform admin ADMIN_EMAIL."""
    await upgrade(settings)
    async with Factory.on(settings) as make:
        await make.platform_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    return settings


async def only_loopback(route: Route) -> None:
    """Let the browser reach the portal on loopback and nothing else (no CDN, no telemetry)."""
    parts = urlsplit(route.request.url)
    if parts.scheme in {"data", "blob"} or (parts.hostname or "") in LOOPBACK_HOSTS:
        await route.continue_()
    else:
        await route.abort()


async def new_context(browser: Browser, base_url: str, **options: object) -> BrowserContext:
    context = await browser.new_context(
        base_url=base_url,
        viewport={"width": 1280, "height": 900},
        **options,  # type: ignore[arg-type]
    )
    context.set_default_timeout(10_000)
    await context.route("**/*", only_loopback)
    return context


async def snap(page: Page, name: str) -> Path:
    """A full-page screenshot under test-artifacts/screenshots/, named after the step."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-") + ".png")
    await page.screenshot(path=str(path), full_page=True)
    return path


async def sign_in(
    page: Page, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, *, shot: str | None = None
) -> None:
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    if shot:
        await snap(page, shot)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/admin/tenants$"))
    await expect(page.locator("#flashes")).to_contain_text(f"Signed in as {email}")


async def tenant_with_openai_key(base_url: str, prefix: str, provider_key: str) -> str:
    """A fresh tenant (through the platform API) with its own OpenAI key; returns its slug."""
    slug = f"{prefix}-{secrets.token_hex(4)}"
    async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": API_KEY}) as client:
        created = await client.post(
            "/api/v1/sysadmin/tenants", json={"name": f"{prefix.title()} {slug}", "slug": slug}
        )
        assert created.status_code == 201, created.text
        stored = await client.put(
            f"/api/v1/sysadmin/tenants/{slug}/credentials/openai", json={"api_key": provider_key}
        )
        assert stored.status_code == 200, stored.text
    return slug


async def signed_in_with_tenant(page: Page, base_url: str, prefix: str, provider_key: str) -> str:
    """A fresh tenant with its own OpenAI key, and the page signed in as the platform admin, allowed
    to use the clipboard (for the copy buttons); returns the tenant's slug."""
    slug = await tenant_with_openai_key(base_url, prefix, provider_key)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    await sign_in(page)
    return slug


def accept_next_dialog(page: Page) -> list[str]:
    """Accepts the next dialog the page opens (a confirmation); its message is appended to the list
    returned."""
    messages: list[str] = []

    async def accept(dialog: Dialog) -> None:
        messages.append(dialog.message)
        await dialog.accept()

    page.once("dialog", accept)
    return messages
