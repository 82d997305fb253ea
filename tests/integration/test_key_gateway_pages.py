"""Keys for the gateway: rate limits through the JSON API and the pages, the `inference` default, the
new-key page's ready curl and OpenAI SDK snippets, and gateway traffic per model on the key and
usage pages (from gateway usage events inserted here: the gateway itself is tested elsewhere)."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta

import pytest

from portal.apikeys.traffic import gateway_traffic
from portal.db.base import utcnow
from portal.db.models import UsageEvent
from portal.db.models.apikeys import UsageSource
from tests.integration.apikeys_support import OPENAI_KEY, create_key
from tests.integration.helpers import credentials_url, new_tenant, portal_url

pytestmark = pytest.mark.usefixtures("app")


# --- the JSON API -----------------------------------------------------------------------------


async def test_rate_limits_through_the_api(api):
    tenant = await new_tenant(api)
    key = await create_key(api, tenant, rpm_limit=60, tpm_limit=100_000)
    assert (key["rpm_limit"], key["tpm_limit"]) == (60, 100_000)
    assert key["scopes"] == ["inference"]  # the default for new keys
    url = portal_url(tenant, f"/api-keys/{key['id']}")
    changed = await api.patch(url, json={"rpm_limit": None, "tpm_limit": 5000})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["rpm_limit"], changed.json()["tpm_limit"]) == (None, 5000)
    assert (await api.patch(url, json={"name": "renamed"})).json()["tpm_limit"] == 5000  # absent: kept
    refused = await api.patch(url, json={"rpm_limit": 0, "tpm_limit": -1})
    assert refused.status_code == 400
    errors = refused.json()["errors"]
    assert "must be more than 0" in errors["rpm_limit"] and "whole number" in errors["tpm_limit"]
    too_many = await api.post(portal_url(tenant, "/api-keys"), json={"name": "x", "rpm_limit": 10**7})
    assert too_many.status_code == 400 and "at most 1,000,000" in too_many.json()["errors"]["rpm_limit"]
    rotated = await api.post(f"{url}/rotate", json={"grace": "1h"})
    assert rotated.json()["tpm_limit"] == 5000  # the replacement keeps the terms


# --- the pages --------------------------------------------------------------------------------


def _secret(text: str, slug: str) -> str:
    return re.findall(rf'value="({re.escape(slug)}_sk_[A-Za-z0-9_-]{{43}})"', text)[0]


async def _create(client, token: str, slug: str, **fields):
    data = {"_csrf_token": token, "name": "prod-web-gateway-202611", "reset_period": "monthly", **fields}
    return await client.post(f"/t/{slug}/api-keys", data=data)


async def test_rate_limits_on_the_pages(api, browser_session):
    client, token = browser_session
    tenant = await new_tenant(api)
    slug = tenant["slug"]
    form = await client.get(f"/t/{slug}/api-keys")
    assert 'for="f-rpm_limit"' in form.text and 'for="f-tpm_limit"' in form.text
    # The create form offers inference alone, checked.
    assert re.search(r'name="scopes" value="inference" checked', form.text)
    assert not re.search(r'name="scopes" value="resolve" checked', form.text)

    bad = await _create(client, token, slug, scopes="inference", rpm_limit="0", tpm_limit="many")
    assert bad.status_code == 400
    assert 'id="e-rpm_limit" class="field-error">must be more than 0' in bad.text
    assert 'id="e-tpm_limit" class="field-error">a whole number per minute' in bad.text
    assert 'value="many"' in bad.text  # what was typed stays in the field

    created = await _create(client, token, slug, scopes="inference", rpm_limit="60", tpm_limit="100000")
    assert created.status_code == 200, created.text
    key = (await api.get(portal_url(tenant, "/api-keys"))).json()[0]
    base = f"/t/{slug}/api-keys/{key['id']}"
    page = await client.get(base)
    assert "60 requests and 100,000 tokens per minute" in page.text

    edited = await client.post(
        base,
        data={
            "_csrf_token": token,
            "name": key["name"],
            "scopes": ["inference", "resolve"],
            "reset_period": "monthly",
            "rpm_limit": "",
            "tpm_limit": "2000",
        },
    )
    assert edited.status_code == 303
    page = await client.get(base)
    assert "no request limit and 2,000 tokens per minute" in page.text
    assert 'id="f-tpm_limit" name="tpm_limit" type="number" value="2000"' in page.text


async def test_the_new_key_page_shows_ready_snippets(app, api, browser_session):
    client, token = browser_session
    tenant = await new_tenant(api)
    slug = tenant["slug"]
    await api.put(credentials_url(tenant, "openai"), json={"api_key": OPENAI_KEY})
    created = await _create(client, token, slug, scopes="inference", allowed_models="gpt-4o-mini")
    assert created.status_code == 200, created.text
    secret = _secret(created.text, slug)
    text = html.unescape(created.text)
    base = f"{app.state.portal.settings.public_url}/v1"
    assert f"curl {base}/chat/completions" in text
    assert f'-H "Authorization: Bearer {secret}"' in text
    assert f'client = OpenAI(\n    base_url="{base}",\n    api_key="{secret}",\n)' in text
    assert 'model="openai/gpt-4o-mini"' in text and '"model": "openai/gpt-4o-mini"' in text
    assert 'data-copy="snippet-curl"' in created.text and 'data-copy="snippet-python"' in created.text
    assert "/api/v1/resolve" not in text  # an inference-only key is not told about resolve
    assert OPENAI_KEY not in text

    # No usable model yet (no credential for the allowed one): a placeholder, and why.
    bare = await new_tenant(api)
    lonely = await _create(client, token, bare["slug"], scopes="inference", allowed_models="gpt-4o-mini")
    assert "This key may use no model yet" in lonely.text and "PROVIDER/MODEL" in lonely.text

    # A key that cannot call the gateway gets no snippet, and the resolve hint instead.
    resolver = await _create(client, token, slug, scopes=["resolve", "usage:write"])
    assert "chat/completions" not in resolver.text and "/api/v1/resolve" in resolver.text


# --- gateway traffic --------------------------------------------------------------------------


def _event(key: dict, tenant_id: uuid.UUID, model: str, latency: int | None, status: int = 200, **extra):
    return UsageEvent(
        api_key_id=uuid.UUID(key["id"]),
        lineage_id=uuid.UUID(key["id"]),
        tenant_id=tenant_id,
        provider="openai",
        model=model,
        input_tokens=extra.pop("input_tokens", 100),
        output_tokens=extra.pop("output_tokens", 20),
        cost_micros=extra.pop("cost_micros", 1_000),
        source=extra.pop("source", UsageSource.GATEWAY.value),
        status_code=status,
        latency_ms=latency,
        occurred_at=extra.pop("occurred_at", utcnow() - timedelta(hours=1)),
        **extra,
    )


async def _seed_traffic(app, api) -> tuple[dict, dict, dict]:
    tenant = await new_tenant(api)
    tenant_id = uuid.UUID(tenant["id"])
    key = await create_key(api, tenant)
    other = await create_key(api, tenant, name="other-svc-202611")
    async with app.state.portal.sessions() as db:
        db.add_all(
            [
                # gpt-4o-mini: four calls, one refused upstream (500), latencies 10, 20, 30, 100: p50 25.
                *(_event(key, tenant_id, "gpt-4o-mini", ms) for ms in (30, 10, 100)),
                _event(key, tenant_id, "gpt-4o-mini", 20, status=502, cost_micros=0, output_tokens=0),
                # gpt-4o: three calls (one streamed), p50 200; one without a latency does not count.
                *(_event(key, tenant_id, "gpt-4o", ms, cost_micros=50_000) for ms in (300, 200, 100)),
                _event(key, tenant_id, "gpt-4o", None, status=429, cost_micros=0),
                # Not counted: a service's own report, traffic older than 30 days.
                _event(key, tenant_id, "gpt-4o", 5, source=UsageSource.REPORT.value),
                _event(key, tenant_id, "gpt-4o", 5, occurred_at=utcnow() - timedelta(days=31)),
                # Another key's traffic: on the usage page, not on this key's.
                _event(other, tenant_id, "text-embedding-3-small", 7, cost_micros=3),
            ]
        )
        await db.commit()
    return tenant, key, other


async def test_gateway_traffic_per_model(app, api):
    tenant, key, _other = await _seed_traffic(app, api)
    async with app.state.portal.sessions() as db:
        mine = await gateway_traffic(
            db, now=utcnow(), tenant_id=uuid.UUID(tenant["id"]), lineage_id=uuid.UUID(key["id"])
        )
        everyone = await gateway_traffic(db, now=utcnow(), tenant_id=uuid.UUID(tenant["id"]))
    by_model = {t.name: t for t in mine}
    assert list(by_model) == ["openai/gpt-4o", "openai/gpt-4o-mini"]  # costliest first
    mini, big = by_model["openai/gpt-4o-mini"], by_model["openai/gpt-4o"]
    assert (mini.requests, mini.errors, mini.p50_ms) == (4, 1, 25.0)
    assert (mini.input_tokens, mini.output_tokens, mini.cost_micros) == (400, 60, 3_000)
    assert (big.requests, big.errors, big.p50_ms, big.cost_micros) == (4, 1, 200.0, 150_000)
    assert {t.name for t in everyone} == {*by_model, "openai/text-embedding-3-small"}


async def test_gateway_traffic_on_the_key_and_usage_pages(app, api, browser_session):
    client, _token = browser_session
    tenant, key, _other = await _seed_traffic(app, api)
    slug = tenant["slug"]
    page = await client.get(f"/t/{slug}/api-keys/{key['id']}")
    assert page.status_code == 200
    table = page.text.split('id="gateway-traffic"')[1].split("</article>")[0]
    rows = re.findall(r"<tr>\s*<th scope=\"row\"><code>([^<]+)</code></th>(.*?)</tr>", table, re.S)
    cells = {name: re.findall(r"<td>(.*?)</td>", rest, re.S) for name, rest in rows}
    assert cells["openai/gpt-4o-mini"][0] == "4"
    assert cells["openai/gpt-4o-mini"][1] == "400 / 60"
    assert cells["openai/gpt-4o-mini"][3].startswith("1 <small>(25%)")
    assert cells["openai/gpt-4o-mini"][4] == "25 ms"
    assert cells["openai/gpt-4o"][2] == "$0.15"
    assert "openai/text-embedding-3-small" not in cells

    usage = await client.get(f"/t/{slug}/usage")
    assert "openai/text-embedding-3-small" in usage.text and "openai/gpt-4o-mini" in usage.text
    quiet = await new_tenant(api)
    assert (
        "No calls through the gateway in the last 30 days."
        in (await client.get(f"/t/{quiet['slug']}/usage")).text
    )
