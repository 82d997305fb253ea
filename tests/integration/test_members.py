"""Members and invitations: the JSON API, single-use tokens, the last admin, the invitation page."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select, update

from portal.db.models import Invitation, Membership
from portal.errors import InvalidInput, NotFound
from tests.integration.people import accept
from tests.support.api import new_tenant, portal_url
from tests.support.clock import ago
from tests.support.factories import Factory, token_of
from tests.support.rows import audit_rows
from tests.support.signin import session_client


async def _role(app, tenant_id: str, user_id: uuid.UUID) -> str | None:
    async with app.state.portal.sessions() as db:
        return await db.scalar(
            select(Membership.role).where(
                Membership.tenant_id == uuid.UUID(tenant_id), Membership.user_id == user_id
            )
        )


async def test_invite_list_accept_through_the_api(app, api, make):
    tenant = await new_tenant(api)
    created = await api.post(
        portal_url(tenant, "/invitations"), json={"email": " Ada@Example.COM ", "role": "admin"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "ada@example.com" and body["role"] == "admin" and body["status"] == "pending"
    # No mail server here: the link comes back to pass on.
    assert body["mailed"] is False and body["link"].startswith("http://127.0.0.1:8000/invite/")
    token = token_of(body["link"])
    async with app.state.portal.sessions() as db:
        stored = await db.scalar(select(Invitation).where(Invitation.id == uuid.UUID(body["id"])))
    assert token not in (stored.token_hash, stored.email) and len(stored.token_hash) == 64
    # Expires after 7 days by default.
    assert 6.99 < (stored.expires_at - stored.created_at).total_seconds() / 86400 < 7.01

    listed = (await api.get(portal_url(tenant, "/users"))).json()
    assert listed["members"] == []
    assert [i["email"] for i in listed["invitations"]] == ["ada@example.com"]
    assert "link" not in listed["invitations"][0] or listed["invitations"][0]["link"] is None

    user = await make.user("ada@example.com")
    membership = await make.accepted(token, user, tenant["id"])
    assert membership.role == "admin"
    listed = (await api.get(portal_url(tenant, "/users"))).json()
    assert listed["invitations"] == []
    assert [(m["email"], m["role"]) for m in listed["members"]] == [("ada@example.com", "admin")]
    actions = [e.action for e in await audit_rows(app, tenant["id"])]
    assert actions[-2:] == ["invitation.created", "invitation.accepted"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-address", "role": "member"}, "email"),
        ({"email": "", "role": "member"}, "email"),
        ({"email": "x@example.com", "role": "owner"}, "role"),
    ],
)
async def test_bad_invitations_name_the_field(api, body, field):
    tenant = await new_tenant(api)
    response = await api.post(portal_url(tenant, "/invitations"), json=body)
    assert response.status_code == 400, response.text
    assert set(response.json()["errors"]) == {field}


async def test_inviting_twice_or_a_member_is_refused(app, api, make):
    tenant = await new_tenant(api)
    member = await make.member(tenant["id"])
    again = await api.post(portal_url(tenant, "/invitations"), json={"email": member.email})
    assert again.status_code == 400 and "member" in again.json()["errors"]["email"]
    await api.post(portal_url(tenant, "/invitations"), json={"email": "twice@example.com"})
    twice = await api.post(portal_url(tenant, "/invitations"), json={"email": "twice@example.com"})
    assert twice.status_code == 400 and "resend" in twice.json()["errors"]["email"]


async def _refusal(app, token: str, user, tenant_id: str) -> Exception:
    with pytest.raises((InvalidInput, NotFound)) as caught:
        await Factory.of_app(app).accepted(token, user, tenant_id)
    return caught.value


async def _assert_gone(app, anon, token: str, tenant_id: str, reason: str) -> None:
    """Accepting the invitation is refused with `reason`, and its page answers 410 saying so."""
    refused = await _refusal(app, token, await Factory.of_app(app).user(), tenant_id)
    assert isinstance(refused, InvalidInput) and reason in refused.message
    page = await anon.get(f"/invite/{token}")
    assert page.status_code == 410 and reason in page.text


async def test_a_used_token_is_refused(app, api, anon, make):
    tenant = await new_tenant(api)
    issued = await make.invitation(tenant["id"], "once@example.com")
    token = token_of(issued.link)
    await make.accepted(token, await make.user(), tenant["id"])
    await _assert_gone(app, anon, token, tenant["id"], "used already")


async def test_an_expired_token_is_refused(app, api, anon, make):
    tenant = await new_tenant(api)
    issued = await make.invitation(tenant["id"], "late@example.com")
    async with app.state.portal.sessions() as db:
        await db.execute(
            update(Invitation).where(Invitation.id == issued.invitation.id).values(expires_at=ago(minutes=1))
        )
        await db.commit()
    await _assert_gone(app, anon, token_of(issued.link), tenant["id"], "expired")


async def test_a_revoked_token_is_refused(app, api, anon, make):
    tenant = await new_tenant(api)
    issued = await make.invitation(tenant["id"], "gone@example.com")
    revoked = await api.delete(portal_url(tenant, f"/invitations/{issued.invitation.id}"))
    assert revoked.status_code == 204, revoked.text
    await _assert_gone(app, anon, token_of(issued.link), tenant["id"], "withdrawn")
    # Revoking twice: 409; the list no longer shows it.
    assert (await api.delete(portal_url(tenant, f"/invitations/{issued.invitation.id}"))).status_code == 409
    assert (await api.get(portal_url(tenant, "/users"))).json()["invitations"] == []


async def test_a_token_for_another_tenant_is_refused(app, api, make):
    tenant_a, tenant_b = await new_tenant(api), await new_tenant(api)
    issued = await make.invitation(tenant_a["id"], "a-only@example.com")
    user = await make.user()
    refused = await _refusal(app, token_of(issued.link), user, tenant_b["id"])
    assert isinstance(refused, NotFound) and "not for this tenant" in refused.message
    assert await _role(app, tenant_b["id"], user.id) is None
    # Still good for its own tenant.
    await make.accepted(token_of(issued.link), user, tenant_a["id"])
    assert await _role(app, tenant_a["id"], user.id) == "member"


async def test_an_unknown_token_is_refused(app, api, anon, make):
    tenant = await new_tenant(api)
    refused = await _refusal(app, "no-such-token", await make.user(), tenant["id"])
    assert isinstance(refused, NotFound) and "not valid" in refused.message
    page = await anon.get("/invite/no-such-token")
    assert page.status_code == 404 and "not valid" in page.text


async def test_resend_kills_the_old_link(app, api, anon, make):
    tenant = await new_tenant(api)
    issued = await make.invitation(tenant["id"], "again@example.com", "admin")
    resent = await api.post(portal_url(tenant, f"/invitations/{issued.invitation.id}/resend"))
    assert resent.status_code == 200, resent.text
    new_link = resent.json()["link"]
    assert new_link != issued.link
    refused = await _refusal(app, token_of(issued.link), await make.user(), tenant["id"])
    assert isinstance(refused, NotFound)
    page = await anon.get(f"/invite/{token_of(new_link)}")
    assert page.status_code == 200
    assert "as\n    <strong>admin</strong>" in page.text or "<strong>admin</strong>" in page.text
    assert f"Sign in with {tenant['name']}" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    user = await make.user()
    await make.accepted(token_of(new_link), user, tenant["id"])
    assert await _role(app, tenant["id"], user.id) == "admin"


async def test_two_concurrent_acceptances_exactly_one_wins(app, api, make):
    tenant = await new_tenant(api)
    issued = await make.invitation(tenant["id"], "race@example.com", "admin")
    token = token_of(issued.link)
    first, second = await make.user(), await make.user()
    results = await asyncio.gather(
        accept(app, token, first, tenant["id"]),
        accept(app, token, second, tenant["id"]),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], InvalidInput) and "used already" in losers[0].message
    roles = [await _role(app, tenant["id"], u.id) for u in (first, second)]
    assert sorted(roles, key=str) == sorted(["admin", None], key=str)
    accepted = [e for e in await audit_rows(app, tenant["id"]) if e.action == "invitation.accepted"]
    assert len(accepted) == 1


async def test_an_admin_invited_as_member_stays_admin(app, api, make):
    tenant = await new_tenant(api)
    admin = await make.member(tenant["id"], "admin")
    await make.member(tenant["id"], "admin")
    issued = await make.invitation(tenant["id"], "other-address@example.com", "member")
    await make.accepted(token_of(issued.link), admin, tenant["id"])
    assert await _role(app, tenant["id"], admin.id) == "admin"


async def test_role_change_and_the_last_admin(app, api, make):
    tenant = await new_tenant(api)
    admin = await make.member(tenant["id"], "admin")
    member = await make.member(tenant["id"], "member")
    users = portal_url(tenant, "/users")

    # The last admin can be neither demoted nor removed.
    demote = await api.patch(f"{users}/{admin.id}", json={"role": "member"})
    assert demote.status_code == 409 and "last admin" in demote.json()["detail"]
    remove = await api.delete(f"{users}/{admin.id}")
    assert remove.status_code == 409 and "last admin" in remove.json()["detail"]

    promote = await api.patch(f"{users}/{member.id}", json={"role": "admin"})
    assert promote.status_code == 200 and promote.json()["role"] == "admin"
    assert (await api.patch(f"{users}/{member.id}", json={"role": "boss"})).status_code == 400
    # With two admins, one may step down; then the other is the last again.
    assert (await api.patch(f"{users}/{admin.id}", json={"role": "member"})).status_code == 200
    assert (await api.delete(f"{users}/{member.id}")).status_code == 409
    assert (await api.delete(f"{users}/{admin.id}")).status_code == 204
    assert await _role(app, tenant["id"], admin.id) is None
    assert (await api.delete(f"{users}/{admin.id}")).status_code == 404
    changes = [
        (e.action, e.details.get("from"), e.details.get("to"))
        for e in await audit_rows(app, tenant["id"])
        if e.action.startswith("member.")
    ]
    assert changes == [
        ("member.role_changed", "member", "admin"),
        ("member.role_changed", "admin", "member"),
        ("member.removed", None, None),
    ]


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(app, api, make):
    tenant = await new_tenant(api)
    first = await make.member(tenant["id"], "admin")
    second = await make.member(tenant["id"], "admin")
    users = portal_url(tenant, "/users")
    answers = await asyncio.gather(
        api.patch(f"{users}/{first.id}", json={"role": "member"}),
        api.patch(f"{users}/{second.id}", json={"role": "member"}),
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    roles = {await _role(app, tenant["id"], u.id) for u in (first, second)}
    assert roles == {"admin", "member"}


async def test_tenant_admins_manage_members_with_their_session(app, api, make):
    tenant, other = await new_tenant(api), await new_tenant(api)
    admin = await make.member(tenant["id"], "admin")
    member = await make.member(tenant["id"], "member")
    outsider = await make.member(other["id"], "admin")
    async with (
        session_client(app, admin.id) as as_admin,
        session_client(app, member.id) as as_member,
        session_client(app, outsider.id) as as_outsider,
    ):
        assert (await as_admin.get(portal_url(tenant, "/users"))).status_code == 200
        assert (await as_member.get(portal_url(tenant, "/users"))).status_code == 403
        assert (await as_outsider.get(portal_url(tenant, "/users"))).status_code == 404
        invited = await as_admin.post(portal_url(tenant, "/invitations"), json={"email": "new@example.com"})
        assert invited.status_code == 201, invited.text
        assert (
            await as_member.patch(portal_url(tenant, f"/users/{admin.id}"), json={"role": "member"})
        ).status_code == 403
        # Without the CSRF header a session's change is refused.
        del as_admin.headers["x-csrftoken"]
        refused = await as_admin.post(portal_url(tenant, "/invitations"), json={"email": "csrf@example.com"})
        assert refused.status_code == 403
    events = await audit_rows(app, tenant["id"], action="invitation.created")
    assert events[-1].actor == admin.email and events[-1].actor_user_id == admin.id


async def test_members_page_invite_shows_the_link_once(app, api, make):
    tenant = await new_tenant(api)
    admin = await make.member(tenant["id"], "admin")
    async with session_client(app, admin.id) as client:
        page = await client.get(f"/t/{tenant['slug']}/members")
        assert page.status_code == 200 and admin.email in page.text
        bad = await client.post(
            f"/t/{tenant['slug']}/members/invitations", data={"email": "nope", "role": "member"}
        )
        assert bad.status_code == 400 and 'id="e-email"' in bad.text
        done = await client.post(
            f"/t/{tenant['slug']}/members/invitations", data={"email": "page@example.com", "role": "member"}
        )
        assert done.status_code == 200 and "/invite/" in done.text and "Invitation created" in done.text
        again = await client.get(f"/t/{tenant['slug']}/members")
        assert "/invite/" not in again.text and "page@example.com" in again.text
        # htmx: the named block only.
        fragment = await client.post(
            f"/t/{tenant['slug']}/members/invitations",
            data={"email": "frag@example.com", "role": "admin"},
            headers={"hx-request": "true", "hx-target": "members_page"},
        )
        assert fragment.status_code == 200 and "<html" not in fragment.text and "/invite/" in fragment.text
        # Removing the last admin through the page: refused with a message, after a confirmation page.
        confirm = await client.get(f"/t/{tenant['slug']}/members/users/{admin.id}/remove")
        assert confirm.status_code == 200 and "Remove member" in confirm.text
        refused = await client.post(f"/t/{tenant['slug']}/members/users/{admin.id}/remove")
        assert refused.status_code == 303
        assert "last admin" in (await client.get(refused.headers["location"])).text


async def test_platform_admin_lists_users_by_tenant_and_role(app, api, browser_session, make):
    tenant, other = await new_tenant(api, name="Users Co"), await new_tenant(api)
    boss = await make.member(tenant["id"], "admin")
    worker = await make.member(tenant["id"], "member")
    await make.member(other["id"], "admin", email=f"both-{uuid.uuid4().hex[:6]}@example.com")
    listed = (await api.get("/api/v1/admin/users", params={"tenant": tenant["slug"]})).json()
    assert {u["email"] for u in listed["users"]} == {boss.email, worker.email}
    admins = (await api.get("/api/v1/admin/users", params={"tenant": tenant["id"], "role": "admin"})).json()
    assert [u["email"] for u in admins["users"]] == [boss.email]
    assert admins["users"][0]["memberships"] == [
        {"tenant_id": tenant["id"], "tenant_slug": tenant["slug"], "tenant_name": "Users Co", "role": "admin"}
    ]
    platform = (await api.get("/api/v1/admin/users", params={"role": "platform_admin"})).json()
    assert platform["total"] >= 1 and all(u["is_platform_admin"] for u in platform["users"])
    assert (await api.get("/api/v1/admin/users", params={"role": "owner"})).status_code == 400
    assert (await api.get("/api/v1/admin/users", params={"tenant": "no-such-tenant"})).status_code == 404

    client, _ = browser_session
    page = await client.get("/admin/users", params={"tenant": tenant["slug"], "role": "member"})
    assert page.status_code == 200 and worker.email in page.text and boss.email not in page.text
    fragment = await client.get(
        "/admin/users", params={"q": boss.email}, headers={"hx-request": "true", "hx-target": "user_list"}
    )
    assert "<html" not in fragment.text and boss.email in fragment.text and "1 user." in fragment.text
    # Each tenant's members, for the platform admin.
    members_page = await client.get(f"/t/{tenant['slug']}/members")
    assert boss.email in members_page.text and worker.email in members_page.text


async def test_removing_a_membership_ends_the_persons_sessions(app, api, make):
    tenant = await new_tenant(api)
    other = await new_tenant(api)
    person = await make.member(tenant["id"])
    issued = await make.invitation(other["id"], person.email)
    await make.accepted(token_of(issued.link), person, other["id"])
    async with session_client(app, person.id) as client:
        assert (await client.get(f"/t/{other['slug']}")).status_code == 200
        removed = await api.delete(f"{portal_url(tenant, '/users')}/{person.id}")
        assert removed.status_code == 204, removed.text
        # Every session of the person ends, not only its access to the tenant it was removed from.
        assert (await client.get(f"/t/{other['slug']}")).status_code == 303
        assert (await client.get(f"/t/{tenant['slug']}")).status_code == 303
