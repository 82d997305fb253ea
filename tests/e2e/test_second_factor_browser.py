"""A platform admin sets up the second factor in the browser and signs in with it."""

from __future__ import annotations

import re
import time
import uuid

import pyotp
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.support.browser import sign_in, snap
from tests.support.factories import Factory

pytestmark = pytest.mark.browser
PASSWORD = "browser admin password 1"


async def test_enrol_then_sign_in_with_a_code(browser_page: Page, live_server: LiveServer) -> None:
    page = browser_page
    email = f"mfa-{uuid.uuid4().hex[:8]}@example.com"
    async with Factory.on(live_server.settings) as make:
        await make.platform_admin(email, PASSWORD)

    await sign_in(page, email, PASSWORD)  # optional on this server: the password alone, until enrolled
    await page.goto("/login/second-factor/setup")
    await expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    await expect(page.locator("figure.qr-code svg")).to_be_visible()
    await snap(page, "mfa-01-enrolment")
    secret = (await page.locator("#totp-secret").inner_text()).replace(" ", "")
    code_field = page.get_by_label("Code from the app")
    await code_field.fill("000000")
    await page.get_by_role("button", name="Turn on the second factor").click()
    await expect(page.locator("#e-code")).to_contain_text("does not match")
    await snap(page, "mfa-02-wrong-code")
    await page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Turn on the second factor").click()
    await expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    await expect(page.locator("ul.recovery-codes li")).to_have_count(10)
    await snap(page, "mfa-03-recovery-codes")

    await page.locator("#user-menu summary").click()  # Sign out is in the account menu
    await page.get_by_role("button", name="Sign out").click()
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/login/second-factor$"))
    await snap(page, "mfa-04-second-step")
    await page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/admin/tenants$"))
    await expect(page.locator("#flashes")).to_contain_text(f"Signed in as {email}")
