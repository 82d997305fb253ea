"""Custom providers: a tenant's own OpenAI-compatible endpoints, created (with their API key, when one
is given), changed and deleted. The catalogue's use cases; the key itself is stored by
portal.credentials.services, in the same transaction."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.catalog.services import require_custom, validate_model_names
from portal.catalog.spec import builtin_specs, check_url, custom_provider_spec, spec_for
from portal.credentials.services import CredentialWork, check_values, existing_credential, save_credential
from portal.db.models import Model, Provider, Tenant, TenantModel
from portal.db.models.catalog import BUILTIN_OWNER
from portal.errors import Conflict, InvalidInput

PROVIDER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,62}$"


async def create_custom_provider(
    db: AsyncSession,
    actor: Actor,
    tenant: Tenant,
    *,
    name: str,
    display_name: str,
    base_url: str,
    models: list[str],
) -> Provider:
    """A tenant's custom provider with its models, all enabled for the tenant."""
    name = (name or "").strip().lower()
    display_name = (display_name or "").strip() or name
    base_url = (base_url or "").strip().rstrip("/")
    errors: dict[str, str] = {}
    if not re.fullmatch(PROVIDER_NAME_PATTERN, name):
        errors["name"] = "2 to 63 characters: lowercase letters, digits, '-' and '_' (e.g. my-gateway)"
    if len(display_name) > 200:
        errors["display_name"] = "at most 200 characters"
    if not base_url:
        errors["base_url"] = "required: the OpenAI-compatible API root, e.g. https://llm.example.com/v1"
    elif problem := check_url(base_url):
        errors["base_url"] = problem
    clean_models, model_problem = validate_model_names(models)
    if model_problem:
        errors["models"] = model_problem
    if errors:
        raise InvalidInput(errors)
    if name in builtin_specs() or await db.scalar(
        select(Provider.id).where(Provider.name == name, Provider.owner.in_([BUILTIN_OWNER, str(tenant.id)]))
    ):
        raise Conflict(f"A provider named '{name}' exists already; choose another name")
    provider = Provider(
        id=uuid.uuid4(),
        name=name,
        display_name=display_name,
        base_url=base_url,
        tenant_id=tenant.id,
        owner=str(tenant.id),
        models=[Model(id=uuid.uuid4(), name=m) for m in clean_models],
    )
    db.add(provider)
    try:
        await db.flush()
    except IntegrityError as exc:  # created by a concurrent request since the check above
        raise Conflict(f"A provider named '{name}' exists already; choose another name") from exc
    if provider.models:
        await db.execute(
            insert(TenantModel),
            [{"tenant_id": tenant.id, "model_id": m.id} for m in provider.models],
        )
    await audit.record(
        db,
        actor,
        "provider.created",
        tenant_id=tenant.id,
        target=f"provider:{name}",
        details={"display_name": display_name, "base_url": base_url, "models": clean_models},
    )
    return provider


async def update_custom_provider(
    db: AsyncSession,
    actor: Actor,
    tenant: Tenant,
    provider: Provider,
    *,
    display_name: str | None = None,
    base_url: str | None = None,
) -> Provider:
    """Change a custom provider's display name or base URL (built-ins come from the catalogue)."""
    errors: dict[str, str] = {}
    changes: dict[str, str] = {}
    if display_name is not None:
        require_custom(provider, tenant, "renaming")
        clean = display_name.strip()
        if not clean or len(clean) > 200:
            errors["display_name"] = "1 to 200 characters"
        changes["display_name"] = clean
    if base_url is not None:
        require_custom(provider, tenant, "changing the base URL")
        clean = base_url.strip().rstrip("/")
        if problem := check_url(clean):
            errors["base_url"] = problem
        changes["base_url"] = clean
    if errors:
        raise InvalidInput(errors)
    if not changes:
        return provider
    for key, value in changes.items():
        setattr(provider, key, value)
    await audit.record(
        db,
        actor,
        "provider.updated",
        tenant_id=tenant.id,
        target=f"provider:{provider.name}",
        details=changes,
    )
    return provider


async def delete_custom_provider(db: AsyncSession, actor: Actor, tenant: Tenant, provider: Provider) -> None:
    require_custom(provider, tenant, "deleting")
    name = provider.name
    await db.execute(delete(Provider).where(Provider.id == provider.id))
    await audit.record(db, actor, "provider.deleted", tenant_id=tenant.id, target=f"provider:{name}")


async def create_custom_provider_with_key(
    work: CredentialWork,
    *,
    name: str,
    display_name: str,
    base_url: str,
    models: list[str],
    api_key: str | None,
) -> Provider:
    """A custom provider and, when given, its API key: validated first, written together or not at all."""
    api_key = (api_key or "").strip() or None
    if api_key:
        spec = custom_provider_spec(name, display_name, base_url)
        check_values(spec, {"api_key": api_key}, strict=work.settings.strict_credentials)
    async with work.db.begin_nested():  # a refusal after the provider was written leaves nothing behind
        provider = await create_custom_provider(
            work.db,
            work.actor,
            work.tenant,
            name=name,
            display_name=display_name,
            base_url=base_url,
            models=models,
        )
        if api_key:
            await save_credential(work, provider, {"api_key": api_key})
    return provider


async def update_provider(
    work: CredentialWork,
    provider: Provider,
    *,
    api_key: str | None = None,
    display_name: str | None = None,
    base_url: str | None = None,
) -> Provider:
    """Change a provider's API key (keeping its other settings) and, for custom ones, its name or URL."""
    values: dict[str, Any] | None = None
    existing = await existing_credential(work.db, work.tenant, provider)
    if api_key is not None:
        values = {**(existing.config if existing else {}), "api_key": api_key}
        check_values(spec_for(provider), values, strict=work.settings.strict_credentials)
    async with work.db.begin_nested():
        await update_custom_provider(
            work.db, work.actor, work.tenant, provider, display_name=display_name, base_url=base_url
        )
        if values is not None:
            label = existing.label if existing else None
            await save_credential(work, provider, values, label=label)
    return provider
