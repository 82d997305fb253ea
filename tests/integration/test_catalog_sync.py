from __future__ import annotations

from sqlalchemy import select

from portal.audit.actor import Actor
from portal.catalog.services import remove_builtin, sync_builtin_catalog
from portal.catalog.spec import builtin_specs
from portal.db.models import Model, Provider
from portal.db.session import unit_of_work


async def test_sync_is_idempotent_and_keeps_removals_out(fresh_database):
    _settings, sessions = fresh_database
    async with unit_of_work(sessions) as db:
        await sync_builtin_catalog(db)
        builtin = list(await db.scalars(select(Provider).where(Provider.tenant_id.is_(None))))
        assert {p.name for p in builtin} >= set(builtin_specs()) - {"xai"}
        openai = next(p for p in builtin if p.name == "openai")
        model = await db.scalar(select(Model).where(Model.provider_id == openai.id, Model.name == "o3-mini"))
        if model is not None:
            await remove_builtin(db, Actor.system("test"), openai, model)
        xai = next((p for p in builtin if p.name == "xai"), None)
        if xai is not None:
            await remove_builtin(db, Actor.system("test"), xai, None)

    async with unit_of_work(sessions) as db:
        await sync_builtin_catalog(db)
        await sync_builtin_catalog(db)
        names = {p.name: p for p in await db.scalars(select(Provider).where(Provider.tenant_id.is_(None)))}
        assert "xai" not in names
        models = set(await db.scalars(select(Model.name).where(Model.provider_id == names["openai"].id)))
        assert "o3-mini" not in models
        assert "gpt-4o" in models
        count = len(list(await db.scalars(select(Model.id).where(Model.provider_id == names["openai"].id))))
        assert count == len(builtin_specs()["openai"].models) - 1
