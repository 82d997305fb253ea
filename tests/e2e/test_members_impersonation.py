"""In a real browser: a platform admin impersonates a tenant's admin (banner on every page, on the
record), manages its members and invitations, reads its audit log, and stops."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.support.browser import ADMIN_EMAIL, accept_next_dialog, sign_in, snap
from tests.support.env import API_KEY
from tests.support.factories import Factory

pytestmark = pytest.mark.browser


async def _tenant_with_people(live_server: LiveServer) -> tuple[str, str, str]:
    """A tenant, through the API, with an admin and a member who joined through invitations."""
    suffix = uuid.uuid4().hex[:6]
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": API_KEY}) as client:
        response = await client.post(
            "/api/v1/sysadmin/tenants", json={"name": f"Initech {suffix}", "slug": f"initech-{suffix}"}
        )
    assert response.status_code == 201, response.text
    tenant_id, slug, name = response.json()["id"], response.json()["slug"], response.json()["name"]
    async with Factory.on(live_server.settings) as make:
        for email, role in (
            (f"peter-{suffix}@initech.example", "admin"),
            (f"milton-{suffix}@initech.example", "member"),
        ):
            await make.member(tenant_id, role, email, name=email.split("-")[0].title())
    return slug, name, suffix


async def test_impersonation_banner_audit_and_stop(browser_page: Page, live_server: LiveServer) -> None:
    page = browser_page
    slug, name, suffix = await _tenant_with_people(live_server)
    await sign_in(page)

    # The tenant page offers impersonation with a reason.
    await page.goto(f"/t/{slug}")
    await expect(page.locator("#impersonation_banner")).to_have_count(0)
    await page.get_by_text(f"Act as an admin of {name}").click()
    await page.get_by_role("button", name=f"Impersonate {name}'s admin").click()
    # A reason is required: said beside the field (the browser checks first; the server too).
    reason = page.get_by_label("Reason")
    assert await reason.evaluate("el => el.validity.valueMissing")
    await reason.fill("Support ticket 1234: their admin is locked out")
    await snap(page, "impersonation-01-reason")
    await page.get_by_role("button", name=f"Impersonate {name}'s admin").click()

    banner = page.locator("#impersonation_banner")
    await expect(page).to_have_url(re.compile(rf"/t/{slug}$"))
    await expect(banner).to_contain_text(ADMIN_EMAIL)
    await expect(banner).to_contain_text(f"is impersonating an admin of {name}")
    await expect(banner).to_contain_text("Support ticket 1234")
    await expect(page.locator("#flashes")).to_contain_text(f"You are acting as an admin of {name}")
    await snap(page, "impersonation-02-banner-on-tenant-page")

    # The platform's pages are closed meanwhile, and the banner is still there.
    await page.goto("/admin/tenants")
    await expect(page.get_by_role("heading", name="403")).to_be_visible()
    await expect(banner).to_be_visible()

    # Members: the tenant's people; invite someone, the link is shown once (no mail server here).
    await page.goto(f"/t/{slug}")
    await page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Members").click()
    await expect(page).to_have_url(re.compile(rf"/t/{slug}/members$"))
    await expect(page.get_by_role("cell", name=f"peter-{suffix}@initech.example", exact=True)).to_be_visible()
    await expect(
        page.get_by_role("cell", name=f"milton-{suffix}@initech.example", exact=True)
    ).to_be_visible()
    await page.get_by_label("E-mail").fill("not an address")
    await page.evaluate("document.querySelector('#invite_form form').noValidate = true")
    await page.get_by_role("button", name="Invite").click()
    await expect(page.locator("#e-email")).to_contain_text("not an e-mail address")
    await page.get_by_label("E-mail").fill(f"samir-{suffix}@initech.example")
    await page.get_by_label("Role", exact=True).select_option("admin")
    await page.get_by_role("button", name="Invite").click()
    link = page.get_by_label("Invitation link")
    await expect(link).to_have_value(re.compile(r"/invite/[A-Za-z0-9_-]{40,}$"))
    await expect(page.locator("#flashes")).to_contain_text(
        f"Invitation created for samir-{suffix}@initech.example"
    )
    await snap(page, "impersonation-03-invitation-link")

    # The invitation page, as the invited person would see it.
    invite_url = await link.input_value()
    invite_page = await page.context.new_page()
    await invite_page.goto(invite_url.replace("http://127.0.0.1:8000", live_server.url))
    await expect(invite_page.get_by_role("heading", name=f"Join {name}")).to_be_visible()
    await expect(
        invite_page.get_by_role("button", name=f"Sign in with {name}'s identity provider to accept")
    ).to_be_visible()
    await snap(invite_page, "impersonation-04-invitation-page")
    await invite_page.close()

    # Revoke it, confirming in the browser's dialog.
    dialogs = accept_next_dialog(page)
    await page.goto(f"/t/{slug}/members")
    await (
        page.get_by_role("row", name=re.compile(f"samir-{suffix}"))
        .get_by_role("button", name="Revoke")
        .click()
    )
    await expect(page.locator("#flashes")).to_contain_text("revoked: its link no longer works")
    assert dialogs and dialogs[0].startswith(f"Revoke the invitation for samir-{suffix}@initech.example?")

    # The last admin cannot be demoted.
    row = page.get_by_role("row", name=re.compile(f"peter-{suffix}"))
    await row.get_by_label(f"Role of peter-{suffix}@initech.example").select_option("member")
    await row.get_by_role("button", name="Change role").click()
    await expect(page.locator("#flashes")).to_contain_text("is the last admin")
    await snap(page, "impersonation-05-members-last-admin")

    # The tenant's audit log shows the impersonation and what was done meanwhile.
    await page.get_by_role("navigation", name="Tenant").get_by_role("link", name="Audit").click()
    await expect(page).to_have_url(re.compile(rf"/t/{slug}/audit$"))
    results = page.locator("#audit_results")
    await expect(results).to_contain_text("impersonation.started")
    await expect(results.locator("tr", has_text="invitation.revoked")).to_contain_text(
        f"impersonating: {ADMIN_EMAIL}"
    )
    await page.get_by_label("Action").fill("invitation.")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"action=invitation\."))
    await expect(results).not_to_contain_text("impersonation.started")
    await snap(page, "impersonation-06-tenant-audit-log")

    # Stop: the banner goes, the platform is open again, and the stop is on the record.
    await banner.get_by_role("button", name="Stop impersonating").click()
    await expect(page.locator("#flashes")).to_contain_text(f"You stopped acting as an admin of {name}")
    await expect(banner).to_have_count(0)
    await page.goto(f"/admin/audit?tenant={slug}&action=impersonation.")
    await expect(page.locator("#audit_results")).to_contain_text("impersonation.stopped")
    await expect(page.locator("#audit_results")).to_contain_text("Support ticket 1234")
    await snap(page, "impersonation-07-stopped-platform-audit")
