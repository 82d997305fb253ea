"""The provider catalogue: built-in sync, what a tenant sees, models and per-tenant enablement.
Custom providers: portal.catalog.providers."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.catalog.prices import Prices
from portal.catalog.spec import ProviderSpec, builtin_specs, spec_for
from portal.config import Settings
from portal.credentials.effective import CredentialSource, effective_credential
from portal.db.models import CatalogRemoval, Credential, Model, Provider, Tenant, TenantModel
from portal.db.models.catalog import BUILTIN_OWNER
from portal.errors import Conflict, InvalidInput, NotFound, found

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$"


async def sync_builtin_catalog(db: AsyncSession) -> None:
    """Insert built-in providers and models that are missing, except what an admin removed, and set
    the shipped prices on every built-in model whose prices no admin has edited."""
    removed = {(r.provider_name, r.model_name) for r in await db.scalars(select(CatalogRemoval))}
    existing = {
        p.name: p
        for p in await db.scalars(
            select(Provider).where(Provider.tenant_id.is_(None)).options(selectinload(Provider.models))
        )
    }
    for spec in builtin_specs().values():
        if (spec.name, "") in removed:
            continue
        provider = existing.get(spec.name)
        if provider is None:
            provider = Provider(
                id=uuid.uuid4(),
                name=spec.name,
                display_name=spec.display_name,
                base_url=spec.base_url,
                owner=BUILTIN_OWNER,
                models=[],
            )
            db.add(provider)
        have = {m.name: m for m in provider.models}
        for model_spec in spec.models:
            model = have.get(model_spec.name)
            if model is None and (spec.name, model_spec.name) not in removed:
                model = Model(id=uuid.uuid4(), name=model_spec.name)
                provider.models.append(model)
            if model is not None and model.prices_edited_at is None:
                set_prices_of(model, model_spec.prices)
    await db.flush()


def set_prices_of(model: Model, prices: Prices) -> None:
    model.input_price_micros = prices.input_micros
    model.output_price_micros = prices.output_micros
    model.max_output_tokens = prices.max_output_tokens


def prices_of(model: Model) -> Prices:
    return Prices(model.input_price_micros, model.output_price_micros, model.max_output_tokens)


async def find_builtin_model(db: AsyncSession, model_id: str | uuid.UUID) -> Model:
    """A model of the built-in catalogue by id, with its provider; NotFound otherwise."""
    try:
        model_uuid = model_id if isinstance(model_id, uuid.UUID) else uuid.UUID(model_id)
    except ValueError as exc:
        raise NotFound("Model not found") from exc
    model = await db.scalar(
        select(Model)
        .join(Provider)
        .where(Model.id == model_uuid, Provider.tenant_id.is_(None))
        .options(selectinload(Model.provider))
    )
    return found(model, "Model")


async def builtin_providers(db: AsyncSession) -> list[Provider]:
    """The platform's built-in catalogue, with each provider's models."""
    query = (
        select(Provider)
        .where(Provider.tenant_id.is_(None))
        .options(selectinload(Provider.models))
        .order_by(Provider.display_name)
    )
    return list(await db.scalars(query))


@dataclass(frozen=True)
class ProviderView:
    provider: Provider
    spec: ProviderSpec
    source: CredentialSource
    credential: Credential | None
    enabled_models: int

    @property
    def has_api_key(self) -> bool:
        return self.source is not CredentialSource.NONE


async def providers_for_tenant(db: AsyncSession, settings: Settings, tenant: Tenant) -> list[ProviderView]:
    providers = list(
        await db.scalars(
            select(Provider)
            .where((Provider.tenant_id.is_(None)) | (Provider.tenant_id == tenant.id))
            .options(selectinload(Provider.models))
            .order_by(Provider.tenant_id.is_not(None), Provider.display_name)
        )
    )
    credentials = {
        c.provider_id: c
        for c in await db.scalars(select(Credential).where(Credential.tenant_id == tenant.id))
    }
    enabled = set(await db.scalars(select(TenantModel.model_id).where(TenantModel.tenant_id == tenant.id)))
    views = []
    for provider in providers:
        spec = spec_for(provider)
        credential = credentials.get(provider.id)
        views.append(
            ProviderView(
                provider=provider,
                spec=spec,
                source=effective_credential(settings, spec, credential).source,
                credential=credential,
                enabled_models=sum(1 for m in provider.models if m.id in enabled),
            )
        )
    return views


async def find_provider(db: AsyncSession, tenant: Tenant, ref: str) -> Provider:
    """A provider this tenant can see, by id or name (its own custom ones win over built-ins)."""
    try:
        condition = Provider.id == uuid.UUID(ref)
    except ValueError:
        condition = Provider.name == ref.strip().lower()
    candidates = list(
        await db.scalars(
            select(Provider)
            .where(condition)
            .where((Provider.tenant_id.is_(None)) | (Provider.tenant_id == tenant.id))
            .options(selectinload(Provider.models))
        )
    )
    candidates.sort(key=lambda p: p.tenant_id is None)
    return found(candidates[0] if candidates else None, "Provider")


def validate_model_names(names: list[str]) -> tuple[list[str], str | None]:
    clean = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
    bad = [n for n in clean if not re.fullmatch(MODEL_NAME_PATTERN, n)]
    if bad:
        return clean, (
            f"invalid model name {bad[0]!r}: use letters, digits and . _ : / @ + - (at most 200 characters)"
        )
    return clean, None


def require_custom(provider: Provider, tenant: Tenant, what: str) -> None:
    """Built-in providers and their models come from the catalogue: only a tenant's own are changed."""
    if provider.tenant_id != tenant.id:
        raise InvalidInput(
            {"provider": f"'{provider.name}' is built in: {what} only applies to custom providers"}
        )


@dataclass(frozen=True)
class ModelView:
    model: Model
    enabled: bool


async def models_for_tenant(db: AsyncSession, tenant: Tenant, provider: Provider) -> list[ModelView]:
    enabled = set(
        await db.scalars(
            select(TenantModel.model_id)
            .join(Model, Model.id == TenantModel.model_id)
            .where(TenantModel.tenant_id == tenant.id, Model.provider_id == provider.id)
        )
    )
    models = await db.scalars(select(Model).where(Model.provider_id == provider.id).order_by(Model.name))
    return [ModelView(m, m.id in enabled) for m in models]


async def add_model(
    db: AsyncSession,
    actor: Actor,
    tenant: Tenant,
    provider: Provider,
    *,
    name: str,
    display_name: str = "",
) -> Model:
    require_custom(provider, tenant, "adding models")
    clean, problem = validate_model_names([name])
    if problem or not clean:
        raise InvalidInput({"name": problem or "required: the model's API name, e.g. llama-3.1-70b"})
    taken = Conflict(f"The model '{clean[0]}' exists already for {provider.name}")  # before any flush
    if await db.scalar(select(Model.id).where(Model.provider_id == provider.id, Model.name == clean[0])):
        raise taken
    model = Model(
        id=uuid.uuid4(),
        provider_id=provider.id,
        name=clean[0],
        display_name=display_name.strip()[:200],
    )
    db.add(model)
    try:
        await db.flush()
    except IntegrityError as exc:  # added by a concurrent request since the check above
        raise taken from exc
    db.add(TenantModel(tenant_id=tenant.id, model_id=model.id))
    await audit.record(
        db,
        actor,
        "model.created",
        tenant_id=tenant.id,
        target=f"model:{provider.name}/{model.name}",
    )
    return model


async def find_model(db: AsyncSession, tenant: Tenant, model_id: str) -> Model:
    try:
        model_uuid = uuid.UUID(model_id)
    except ValueError as exc:
        raise NotFound("Model not found") from exc
    return found(
        await db.scalar(
            select(Model)
            .join(Provider)
            .where(Model.id == model_uuid)
            .where((Provider.tenant_id.is_(None)) | (Provider.tenant_id == tenant.id))
            .options(selectinload(Model.provider))
        ),
        "Model",
    )


async def delete_model(db: AsyncSession, actor: Actor, tenant: Tenant, model: Model) -> None:
    require_custom(model.provider, tenant, "deleting models (disable built-in ones instead)")
    target = f"model:{model.provider.name}/{model.name}"
    await db.execute(delete(Model).where(Model.id == model.id))
    await audit.record(db, actor, "model.deleted", tenant_id=tenant.id, target=target)


async def model_enabled(db: AsyncSession, tenant: Tenant, model: Model) -> bool:
    query = select(TenantModel.model_id).where(
        TenantModel.tenant_id == tenant.id, TenantModel.model_id == model.id
    )
    return await db.scalar(query) is not None


async def set_model_enabled(
    db: AsyncSession, actor: Actor, tenant: Tenant, model: Model, enabled: bool
) -> None:
    if await model_enabled(db, tenant, model) == enabled:
        return
    if enabled:
        try:  # a savepoint: a rollback of it expires nothing the callers still read
            async with db.begin_nested():
                db.add(TenantModel(tenant_id=tenant.id, model_id=model.id))
        except IntegrityError:  # enabled by a concurrent request: the outcome is the same
            return
    else:
        await db.execute(
            delete(TenantModel).where(TenantModel.tenant_id == tenant.id, TenantModel.model_id == model.id)
        )
    await audit.record(
        db,
        actor,
        "model.enabled" if enabled else "model.disabled",
        tenant_id=tenant.id,
        target=f"model:{model.provider.name}/{model.name}",
    )


async def remove_builtin(db: AsyncSession, actor: Actor, provider: Provider, model: Model | None) -> None:
    """Platform admins remove a built-in provider or model; the start-up sync keeps it out."""
    if not provider.is_builtin:
        raise InvalidInput({"provider": "only built-in catalogue entries are removed here"})
    db.add(CatalogRemoval(provider_name=provider.name, model_name=model.name if model else ""))
    target = f"model:{provider.name}/{model.name}" if model else f"provider:{provider.name}"
    await db.execute(
        delete(Model).where(Model.id == model.id)
        if model
        else delete(Provider).where(Provider.id == provider.id)
    )
    await audit.record(db, actor, "catalog.removed", target=target)
    try:  # a savepoint-free check: a concurrent removal clashes here, not at the request's commit
        await db.flush()
    except IntegrityError as exc:
        raise Conflict("Already removed") from exc
