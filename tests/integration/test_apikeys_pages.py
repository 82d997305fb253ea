"""API-key and usage pages as plain form posts: the secret shown once, errors beside fields, CSRF,
confirmation before revoking, a flash after every change, charts and the 80 % banner."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.api import OPENAI_KEY, credentials_url, new_tenant, report
from tests.support.rows import audit_actions

pytestmark = pytest.mark.usefixtures("app")


def _secret(html: str, slug: str) -> str:
    found = re.findall(rf'value="({re.escape(slug)}_sk_[A-Za-z0-9_-]{{43}})"', html)
    assert len(found) == 1, "the new key is shown exactly once"
    return found[0]


async def _create(
    client: httpx.AsyncClient, token: str, slug: str, **fields: str | list[str]
) -> httpx.Response:
    data: dict[str, str | list[str]] = {
        "_csrf_token": token,
        "name": "prod-web-resolver-202611",
        "scopes": ["resolve", "usage:write"],
        "limit_usd": "1.00",
        "reset_period": "monthly",
        **fields,
    }
    return await client.post(f"/t/{slug}/api-keys", data=data)


async def test_create_shows_the_secret_once_then_never(app, api, browser_session, service_client):
    client, token = browser_session
    tenant = await new_tenant(api)
    slug = tenant["slug"]
    page = await client.get(f"/t/{slug}/api-keys")
    assert page.status_code == 200
    for label in (
        'for="f-name"',
        'for="f-limit_usd"',
        'for="f-reset_period"',
        'for="f-expires_on"',
        'for="f-allowed_models"',
        'for="f-metadata"',
        "<legend>Scopes</legend>",
    ):
        assert label in page.text

    missing = await _create(client, token, slug, name="  ", metadata="[1]", limit_usd="lots")
    assert missing.status_code == 400
    assert 'id="f-name"' in missing.text and 'aria-describedby="e-name"' in missing.text
    assert 'id="e-limit_usd" class="field-error">a dollar amount such as 5.00' in missing.text
    assert 'id="e-metadata" class="field-error">a JSON object' in missing.text

    refused = await client.post(f"/t/{slug}/api-keys", data={"name": "no-token"})
    assert refused.status_code == 403

    created = await _create(client, token, slug, metadata='{"env": "prod"}', expires_on="2099-01-31")
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    secret = _secret(created.text, slug)
    assert "shown only once" in created.text and 'id="copy-key"' in created.text

    listing = await client.get(f"/t/{slug}/api-keys")
    assert secret not in listing.text
    assert f"{secret[: len(slug) + 8]}…{secret[-4:]}" in listing.text
    key_id = re.search(r'/api-keys/([0-9a-f-]{36})"', listing.text).group(1)  # type: ignore[union-attr]
    detail = await client.get(f"/t/{slug}/api-keys/{key_id}")
    assert detail.status_code == 200 and secret not in detail.text
    assert '<svg class="chart"' in detail.text and "2099-01-31" in detail.text

    # A service uses it; the usage shows on the charts; at 80 % a banner, at 100 % a refusal.
    await api.put(credentials_url(tenant, "openai"), json={"api_key": OPENAI_KEY})
    assert (await report(service_client, secret, "0.85")).status_code == 201
    detail = await client.get(f"/t/{slug}/api-keys/{key_id}")
    assert "This key has used 85% of its spend limit" in detail.text
    assert re.search(r"<rect class=\"bar\"[^>]*><title>[^<]*\$0\.85, 1 request</title>", detail.text)
    usage = await client.get(f"/t/{slug}/usage")
    assert usage.status_code == 200 and "at 80 % or more" in usage.text and "$0.85" in usage.text
    assert OPENAI_KEY not in usage.text + detail.text


async def test_edit_rotate_disable_and_revoke_with_confirmation(app, api, browser_session):
    client, token = browser_session
    tenant = await new_tenant(api)
    slug = tenant["slug"]
    secret = _secret((await _create(client, token, slug)).text, slug)
    listing = await client.get(f"/t/{slug}/api-keys", params={"name": "resolver"})
    key_id = re.search(r'/api-keys/([0-9a-f-]{36})"', listing.text).group(1)  # type: ignore[union-attr]
    base = f"/t/{slug}/api-keys/{key_id}"

    edited = await client.post(
        base,
        data={
            "_csrf_token": token,
            "name": "prod-web-r2",
            "scopes": ["resolve"],
            "limit_usd": "3",
            "reset_period": "weekly",
            "metadata": '{"env": "prod"}',
        },
    )
    assert edited.status_code == 303 and edited.headers["location"] == base
    page = await client.get(base)
    assert "API key prod-web-r2 saved." in page.text and "$3.00" in page.text and "resets weekly" in page.text

    raised = await client.post(f"{base}/increase-limit", data={"_csrf_token": token, "amount_usd": "2"})
    assert raised.status_code == 303
    assert "Limit of prod-web-r2 raised to $5.00." in (await client.get(base)).text

    disabled = await client.post(f"{base}/disable", data={"_csrf_token": token})
    assert disabled.status_code == 303
    assert "disabled: it is refused until enabled" in (await client.get(base)).text
    await client.post(f"{base}/enable", data={"_csrf_token": token})

    confirm = await client.get(f"{base}/rotate")
    assert confirm.status_code == 200 and 'for="f-grace"' in confirm.text
    bad_grace = await client.post(f"{base}/rotate", data={"_csrf_token": token, "grace": "forever"})
    assert bad_grace.status_code == 400 and 'id="e-grace"' in bad_grace.text
    rotated = await client.post(f"{base}/rotate", data={"_csrf_token": token, "grace": "1h"})
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    new_secret = _secret(rotated.text, slug)
    assert new_secret != secret and "keeps working until" in rotated.text
    old_page = await client.get(base)
    assert "rotating (grace)" in old_page.text and "Replaced by" in old_page.text

    confirm = await client.get(f"{base}/revoke")
    assert "This cannot be undone" in confirm.text and "Revoke API key" in confirm.text
    revoked = await client.post(f"{base}/revoke", data={"_csrf_token": token})
    assert revoked.status_code == 303 and revoked.headers["location"] == f"/t/{slug}/api-keys"
    after = await client.get(f"/t/{slug}/api-keys", params={"state": "revoked"})
    assert "revoked." in after.text and "prod-web-r2" in after.text
    assert await audit_actions(app, tenant["id"], "api_key") == [
        "api_key.created",
        "api_key.updated",
        "api_key.limit_increased",
        "api_key.disabled",
        "api_key.enabled",
        "api_key.rotated",
        "api_key.created",
        "api_key.revoked",
    ]


async def test_plans_and_revoking_old_keys(app, api, browser_session):
    client, token = browser_session
    tenant = await new_tenant(api)
    slug = tenant["slug"]
    plans = await client.get(f"/t/{slug}/api-keys/plans")
    assert plans.status_code == 200 and 'value="20"' in plans.text  # pro: 20 USD by default
    form = {"_csrf_token": token}
    for name, limit in {"free": "1", "basic": "5", "pro": "25", "enterprise": "100"}.items():
        form |= {f"{name}_limit": limit, f"{name}_reset": "monthly"}
    saved = await client.post(f"/t/{slug}/api-keys/plans", data=form)
    assert saved.status_code == 303
    assert "Plans saved." in (await client.get(f"/t/{slug}/api-keys/plans")).text
    bad = await client.post(f"/t/{slug}/api-keys/plans", data={**form, "pro_limit": "-3"})
    assert bad.status_code == 400 and 'id="e-pro_limit"' in bad.text
    created = await _create(client, token, slug, plan="pro", limit_usd="")
    assert created.status_code == 200
    assert "$0.00 of $25.00" in (await client.get(f"/t/{slug}/api-keys")).text

    preview = await client.get(f"/t/{slug}/api-keys/revoke-old", params={"older_than": "90d"})
    assert preview.status_code == 200 and "No unrevoked key is older than 90d" in preview.text
    swept = await client.post(
        f"/t/{slug}/api-keys/revoke-old", data={"_csrf_token": token, "older_than": "90d"}
    )
    assert swept.status_code == 303
    assert "Revoked 0 key(s) older than 90d." in (await client.get(f"/t/{slug}/api-keys")).text


@pytest.fixture
async def service_client(app):
    from tests.support.apps import client_for

    async with client_for(app) as client:
        yield client
