"""Model prices: shipped prices synced at start, an admin's edit kept by the sync, a tenant's admins
pricing their custom models only, every change audited, and the hot path seeing it at once."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.audit.actor import Actor
from portal.catalog import pricing
from portal.catalog.prices import Prices
from portal.catalog.providers import create_custom_provider
from portal.catalog.services import prices_of, sync_builtin_catalog
from portal.db.models import AuditEvent, Model, Provider, Tenant
from portal.db.session import unit_of_work
from portal.errors import InvalidInput
from tests.integration.helpers import audit_rows, new_tenant, portal_url

ADMIN = Actor.system("test")


async def _builtin_model(db, provider: str, name: str) -> Model:
    return await db.scalar(
        select(Model)
        .join(Provider)
        .where(Provider.tenant_id.is_(None), Provider.name == provider, Model.name == name)
        .options(selectinload(Model.provider))
    )


async def test_sync_sets_shipped_prices_and_keeps_an_admins_edit(fresh_database):
    _settings, sessions = fresh_database
    async with unit_of_work(sessions) as db:
        await sync_builtin_catalog(db)
        mini = await _builtin_model(db, "openai", "gpt-4o-mini")
        assert prices_of(mini) == Prices(150_000, 600_000, 16384)
        assert mini.prices_edited_at is None
        await pricing.set_model_prices(db, ADMIN, mini, tenant=None, input_usd="0.2", output_usd="0.8")
        # Not edited by an admin: a stale price is brought back to the shipped one by the sync.
        gpt4o = await _builtin_model(db, "openai", "gpt-4o")
        gpt4o.input_price_micros = 1
    async with unit_of_work(sessions) as db:
        await sync_builtin_catalog(db)
    async with unit_of_work(sessions) as db:
        mini = await _builtin_model(db, "openai", "gpt-4o-mini")
        assert prices_of(mini) == Prices(200_000, 800_000, None)
        assert mini.prices_edited_at is not None
        assert (await _builtin_model(db, "openai", "gpt-4o")).input_price_micros == 2_500_000
        event = await db.scalar(select(AuditEvent).where(AuditEvent.action == "model.prices_changed"))
        assert event.target == "model:openai/gpt-4o-mini"
        assert event.tenant_id is None
        assert event.details["from"] == "$0.15 / $0.60 per 1M tokens"
        assert event.details["to"] == "$0.20 / $0.80 per 1M tokens"
        # Back to the list price: the sync owns it again.
        await pricing.reset_model_prices(db, ADMIN, mini)
    async with unit_of_work(sessions) as db:
        mini = await _builtin_model(db, "openai", "gpt-4o-mini")
        assert prices_of(mini) == Prices(150_000, 600_000, 16384)
        assert mini.prices_edited_at is None


async def test_bad_prices_change_nothing(fresh_database):
    _settings, sessions = fresh_database
    async with unit_of_work(sessions) as db:
        await sync_builtin_catalog(db)
        mini = await _builtin_model(db, "openai", "gpt-4o-mini")
        with pytest.raises(InvalidInput) as info:
            await pricing.set_model_prices(
                db, ADMIN, mini, tenant=None, input_usd="-1", output_usd="2000", max_output="0"
            )
        assert set(info.value.errors) == {
            "input_usd_per_million",
            "output_usd_per_million",
            "max_output_tokens",
        }
        assert prices_of(mini) == Prices(150_000, 600_000, 16384)
        assert mini.prices_edited_at is None
        assert await db.scalar(select(AuditEvent.id).where(AuditEvent.action.like("model.prices%"))) is None


async def test_tenant_admins_price_their_custom_models_only(api, app):
    created = await new_tenant(api, name="Pricing")
    async with app.state.portal.sessions() as db:
        tenant = await db.get_one(Tenant, uuid.UUID(created["id"]))
        provider = await create_custom_provider(
            db,
            ADMIN,
            tenant,
            name="own-gw",
            display_name="",
            base_url="https://gw.example.com/v1",
            models=["m1"],
        )
        await db.commit()
    async with app.state.portal.sessions() as db:
        tenant = await db.get_one(Tenant, uuid.UUID(created["id"]))
        model = await db.scalar(
            select(Model).where(Model.provider_id == provider.id).options(selectinload(Model.provider))
        )
        await pricing.set_model_prices(
            db, ADMIN, model, tenant=tenant, input_usd="0.5", output_usd="1.5", max_output="4096"
        )
        builtin = await _builtin_model(db, "openai", "gpt-4o")
        with pytest.raises(InvalidInput) as info:
            await pricing.set_model_prices(db, ADMIN, builtin, tenant=tenant, input_usd="0", output_usd="0")
        assert "built in" in info.value.errors["provider"]
        with pytest.raises(InvalidInput):  # and the platform catalogue prices built-in models only
            await pricing.set_model_prices(db, ADMIN, model, tenant=None, input_usd="0", output_usd="0")
        await db.commit()
    async with app.state.portal.sessions() as db:
        model = await db.get_one(Model, model.id)
        assert prices_of(model) == Prices(500_000, 1_500_000, 4096)
    events = await audit_rows(app, created["id"], action="model.prices_changed")
    assert [e.target for e in events] == ["model:own-gw/m1"]


async def test_the_hot_path_sees_a_new_price_at_once(api, app):
    """The audit event of the edit reloads the catalogue in the hot path (portal.apikeys.changes)."""
    store = app.state.hotpath.store
    before = (await store.catalog())["openai"].models["gpt-4.1"].prices
    async with app.state.portal.sessions() as db:
        model = await _builtin_model(db, "openai", "gpt-4.1")
        await pricing.set_model_prices(
            db, ADMIN, model, tenant=None, input_usd="3", output_usd="9", max_output="1000"
        )
        await db.commit()
    try:
        assert (await store.catalog())["openai"].models["gpt-4.1"].prices == Prices(
            3_000_000, 9_000_000, 1000
        )
    finally:
        async with app.state.portal.sessions() as db:
            await pricing.reset_model_prices(db, ADMIN, await _builtin_model(db, "openai", "gpt-4.1"))
            await db.commit()
    assert (await store.catalog())["openai"].models["gpt-4.1"].prices == before


# --- JSON API and pages ------------------------------------------------------------------------

CATALOG = "/api/v1/sysadmin/catalog"


async def _custom_model(api, tenant) -> dict:
    created = await api.post(
        portal_url(tenant, "/providers"),
        json={
            "name": f"gw-{uuid.uuid4().hex[:6]}",
            "base_url": "https://gw.example.com/v1",
            "models": ["m1"],
        },
    )
    assert created.status_code == 201, created.text
    models = (await api.get(portal_url(tenant, f"/providers/{created.json()['id']}/models"))).json()
    return models[0]


async def test_prices_through_the_json_api(api, app):
    catalog = {p["name"]: p for p in (await api.get(CATALOG)).json()}
    mini = next(m for m in catalog["openai"]["models"] if m["name"] == "gpt-4o-mini")
    assert (mini["input_usd_per_million"], mini["output_usd_per_million"]) == (0.15, 0.6)
    assert mini["prices"] == "$0.15 / $0.60 per 1M tokens" and mini["max_output_tokens"] == 16384
    router = next(m for m in catalog["openrouter"]["models"] if m["name"] == "openrouter/auto")
    assert router["prices"] == "not priced" and router["input_usd_per_million"] is None

    url = f"{CATALOG}/models/{mini['id']}/prices"
    bad = await api.put(url, json={"input_usd_per_million": "-1", "output_usd_per_million": 1})
    assert bad.status_code == 400 and "must not be negative" in bad.json()["errors"]["input_usd_per_million"]
    try:
        done = await api.put(
            url,
            json={"input_usd_per_million": "0.2", "output_usd_per_million": 0.8, "max_output_tokens": 8000},
        )
        assert done.status_code == 200, done.text
        assert done.json()["prices"] == "$0.20 / $0.80 per 1M tokens" and done.json()["prices_edited_at"]
        assert (await app.state.hotpath.store.catalog())["openai"].models["gpt-4o-mini"].prices == Prices(
            200_000, 800_000, 8000
        )
    finally:
        reset = await api.post(f"{url}/reset")
    assert reset.status_code == 200 and reset.json()["prices"] == "$0.15 / $0.60 per 1M tokens"
    assert reset.json()["prices_edited_at"] is None

    # A tenant's admins price their custom models, never the built-in ones.
    tenant = await new_tenant(api, name="Priced")
    model = await _custom_model(api, tenant)
    assert model["prices"] == "not priced" and model["enabled"] is True
    priced = await api.put(
        portal_url(tenant, f"/providers/models/{model['id']}/prices"),
        json={"input_usd_per_million": 1, "output_usd_per_million": "2.5"},
    )
    assert priced.status_code == 200, priced.text
    assert priced.json()["prices"] == "$1.00 / $2.50 per 1M tokens" and priced.json()["enabled"] is True
    refused = await api.put(
        portal_url(tenant, f"/providers/models/{mini['id']}/prices"),
        json={"input_usd_per_million": 0, "output_usd_per_million": 0},
    )
    assert refused.status_code == 400 and "built in" in refused.json()["errors"]["provider"]


async def test_prices_on_the_pages(api, app, browser_session):
    client, token = browser_session
    page = await client.get("/admin/catalog")
    assert "$0.15 / $0.60 per 1M tokens" in page.text and "not priced" in page.text
    catalog = {p["name"]: p for p in (await api.get(CATALOG)).json()}
    model = next(m for m in catalog["mistral"]["models"] if m["name"] == "codestral-latest")
    url = f"/admin/catalog/models/{model['id']}/prices"
    form = await client.get(url)
    assert form.status_code == 200
    for field in ("input_usd_per_million", "output_usd_per_million", "max_output_tokens"):
        assert f'for="f-{field}"' in form.text
    assert 'value="0.30"' in form.text and 'value="32768"' in form.text

    # htmx: only the form's block comes back, errors beside the fields.
    bad = await client.post(
        url,
        data={"_csrf_token": token, "input_usd_per_million": "0.5", "output_usd_per_million": ""},
        headers={"HX-Request": "true", "HX-Target": "price_form"},
    )
    assert bad.status_code == 400
    assert (
        "<html" not in bad.text and 'id="e-output_usd_per_million" class="field-error">give both' in bad.text
    )
    try:
        saved = await client.post(
            url, data={"_csrf_token": token, "input_usd_per_million": "0.5", "output_usd_per_million": "1.5"}
        )
        assert saved.status_code == 303 and saved.headers["location"] == "/admin/catalog"
        after = await client.get("/admin/catalog")
        assert (
            "Prices of mistral/codestral-latest: $0.50 / $1.50 per 1M tokens, for every tenant." in after.text
        )
        assert "Back to the list prices" in (await client.get(url)).text
    finally:
        reset = await client.post(f"{url}/reset", data={"_csrf_token": token})
    assert reset.status_code == 303
    assert "back to the list prices: $0.30 / $0.90" in (await client.get("/admin/catalog")).text

    # A tenant's admin, on the provider page of a custom model.
    tenant = await new_tenant(api, name="Priced pages")
    custom = await _custom_model(api, tenant)
    slug = tenant["slug"]
    detail = await client.get(f"/t/{slug}/providers/{custom['provider_id']}")
    assert "not priced" in detail.text and f"/providers/models/{custom['id']}/prices" in detail.text
    tenant_url = f"/t/{slug}/providers/models/{custom['id']}/prices"
    saved = await client.post(
        tenant_url,
        data={
            "_csrf_token": token,
            "input_usd_per_million": "0.075",
            "output_usd_per_million": "0.3",
            "max_output_tokens": "4096",
        },
    )
    assert saved.status_code == 303
    detail = await client.get(f"/t/{slug}/providers/{custom['provider_id']}")
    assert "$0.075 / $0.30 per 1M tokens" in detail.text and "answers ≤ 4,096 tokens" in detail.text
    builtin = next(m for m in catalog["openai"]["models"] if m["name"] == "gpt-4o")
    assert (await client.get(f"/t/{slug}/providers/models/{builtin['id']}/prices")).status_code == 400
