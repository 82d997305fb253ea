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
from tests.integration.helpers import audit_rows, new_tenant

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
