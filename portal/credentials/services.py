"""BYO provider credentials: validate, seal, list masked, delete, test.

Built on the catalogue's domain (portal.catalog.spec: each provider's fields); callers pass the
provider they loaded, so nothing here imports the catalogue's use cases (which build on this)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.catalog.spec import ProviderSpec, check_field, spec_for
from portal.config import Settings
from portal.crypto.sealing import Undecryptable, masked_hint
from portal.crypto.vault import TenantOpener, Vault
from portal.db.base import utcnow
from portal.db.models import Credential, Provider, Tenant
from portal.errors import Conflict, InvalidInput, found, id_or_404

TABLE = "credentials"
LABEL_MAX = 200
# Keys a request body may carry besides the provider's own fields.
NON_FIELD_KEYS = {"label", "provider"}


@dataclass(frozen=True)
class CheckedValues:
    secrets: dict[str, str]
    config: dict[str, str]


def check_values(
    spec: ProviderSpec,
    raw: Mapping[str, Any],
    *,
    strict: bool,
    keep_secrets: frozenset[str] = frozenset(),
) -> CheckedValues:
    """Trim and check every field; InvalidInput names each bad or missing field.

    `keep_secrets`: secret fields the caller may leave blank to keep the stored value.
    """
    errors: dict[str, str] = {}
    known = {f.name for f in spec.fields}
    for key in raw:
        if key not in known and key not in NON_FIELD_KEYS:
            errors[key] = f"unknown field for {spec.name}; it takes: {', '.join(sorted(known))}"
    secrets: dict[str, str] = {}
    config: dict[str, str] = {}
    missing = []
    for spec_field in spec.fields:
        value = raw.get(spec_field.name)
        if value is not None and not isinstance(value, str):
            errors[spec_field.name] = "must be a string"
            continue
        value = (value or "").strip()
        if not value:
            if spec_field.is_required(strict) and spec_field.name not in keep_secrets:
                missing.append(spec_field.name)
                errors[spec_field.name] = f"required for {spec.display_name}" + (
                    " when tenant credentials are enforced" if not spec_field.required else ""
                )
            continue
        if problem := check_field(spec_field, value):
            errors[spec_field.name] = problem
            continue
        (secrets if spec_field.secret else config)[spec_field.name] = value
    if errors:
        message = None
        if missing:
            message = f"Missing required fields for {spec.name}: {', '.join(missing)}"
        raise InvalidInput(errors, message)
    return CheckedValues(secrets, config)


def check_label(label: str | None) -> str:
    clean = (label or "").strip()
    if len(clean) > LABEL_MAX:
        raise InvalidInput({"label": f"at most {LABEL_MAX} characters"})
    return clean


@dataclass(frozen=True)
class CredentialView:
    """What may be shown of a stored credential: never a secret, never a ciphertext."""

    id: uuid.UUID
    provider: str
    provider_display_name: str
    label: str
    masked_key: str
    config: dict[str, str]
    configured_at: datetime
    created_at: datetime
    set_by: str
    encryption_status: str  # "encrypted" (it opens) | "undecryptable" (see undecryptable_reason)
    undecryptable_reason: str | None
    last_test_at: datetime | None
    last_test_ok: bool | None
    last_test_reason: str | None
    secret_fields: list[str] = field(default_factory=list)


def view_of(
    vault: Vault, tenant: Tenant, credential: Credential, opener: TenantOpener | None = None
) -> CredentialView:
    """The credential as it may be shown; `opener` lets a listing unwrap the data key only once."""
    opener = opener or vault.opener(tenant.wrapped_data_key, tenant.id)
    try:
        opener.open_fields(table=TABLE, row_id=credential.id, sealed=credential.sealed_fields)
        reason = None
    except Undecryptable as exc:
        reason = str(exc)
    return CredentialView(
        id=credential.id,
        provider=credential.provider.name,
        provider_display_name=credential.provider.display_name,
        label=credential.label,
        masked_key=credential.key_hint,
        config=dict(credential.config),
        configured_at=credential.updated_at,
        created_at=credential.created_at,
        set_by=credential.set_by,
        encryption_status="undecryptable" if reason else "encrypted",
        undecryptable_reason=reason,
        last_test_at=credential.last_test_at,
        last_test_ok=credential.last_test_ok,
        last_test_reason=credential.last_test_reason,
        secret_fields=sorted(credential.sealed_fields),
    )


async def list_credentials(db: AsyncSession, vault: Vault, tenant: Tenant) -> list[CredentialView]:
    rows = await db.scalars(
        select(Credential).where(Credential.tenant_id == tenant.id).join(Provider).order_by(Provider.name)
    )
    opener = vault.opener(tenant.wrapped_data_key, tenant.id)
    return [view_of(vault, tenant, c, opener) for c in rows]


async def existing_credential(db: AsyncSession, tenant: Tenant, provider: Provider) -> Credential | None:
    return await db.scalar(
        select(Credential).where(Credential.tenant_id == tenant.id, Credential.provider_id == provider.id)
    )


@dataclass(frozen=True)
class CredentialWork:
    """One use case on a tenant's credentials: the transaction's session, the vault that seals and
    opens, the settings (strict mode, shared keys), who acts, and the tenant. The controllers get it
    as the `work` dependency (portal.credentials.deps)."""

    db: AsyncSession
    vault: Vault
    settings: Settings
    actor: Actor
    tenant: Tenant


def _conflict(provider: Provider) -> Conflict:
    return Conflict(f"This tenant already has a credential for {provider.name}; replace or delete it first")


async def save_credential(
    work: CredentialWork,
    provider: Provider,
    values: Mapping[str, Any],
    *,
    label: str | None = None,
    create_only: bool = False,
    keep_blank_secrets: bool = False,
) -> CredentialView:
    """Create or replace the tenant's credential for a provider (validated before anything is written)."""
    db, vault, settings, actor, tenant = work.db, work.vault, work.settings, work.actor, work.tenant
    spec = spec_for(provider)
    existing = await existing_credential(db, tenant, provider)
    conflict = _conflict(provider)  # made now: a failed flush expires `provider`
    if existing is not None and create_only:
        raise conflict
    keep = frozenset(existing.sealed_fields) if existing is not None and keep_blank_secrets else frozenset()
    checked = check_values(spec, values, strict=settings.strict_credentials, keep_secrets=keep)
    clean_label = check_label(label if label is not None else values.get("label"))
    credential = existing or Credential(id=uuid.uuid4(), tenant_id=tenant.id, provider_id=provider.id)
    sealed = dict(existing.sealed_fields) if existing is not None and keep else {}
    try:
        sealed.update(
            vault.seal_fields(
                tenant.wrapped_data_key,
                tenant_id=tenant.id,
                table=TABLE,
                row_id=credential.id,
                values=checked.secrets,
            )
        )
    except Undecryptable as exc:
        raise InvalidInput({"tenant": f"the tenant's data key cannot be opened: {exc}"}) from exc
    credential.sealed_fields = sealed
    credential.config = checked.config
    credential.label = clean_label or credential.label or spec.display_name
    if "api_key" in checked.secrets or existing is None:
        credential.key_hint = masked_hint(checked.secrets.get("api_key", ""))
    credential.set_by = actor.label
    credential.updated_at = utcnow()
    credential.last_test_at = credential.last_test_ok = credential.last_test_reason = None
    if existing is None:
        db.add(credential)
        try:  # a concurrent request may have stored one since the check above
            await db.flush()
        except IntegrityError as exc:
            raise conflict from exc
    action = "credential.replaced" if existing else "credential.created"
    fields = {"secret_fields_set": sorted(checked.secrets), "config": checked.config}
    await _record(db, actor, action, tenant, provider.name, credential, **fields)
    credential.provider = provider
    return view_of(vault, tenant, credential)


async def find_credential(db: AsyncSession, tenant: Tenant, credential_id: str) -> Credential:
    """One of the tenant's credentials by its id, or NotFound."""
    wanted = id_or_404(credential_id, "Credential")
    query = select(Credential).where(Credential.tenant_id == tenant.id, Credential.id == wanted)
    return found(await db.scalar(query), "Credential")


async def credential_for(db: AsyncSession, tenant: Tenant, provider: Provider) -> Credential:
    """The tenant's credential for a provider, or NotFound."""
    return found(await existing_credential(db, tenant, provider), "Credential")


async def delete_credential(db: AsyncSession, actor: Actor, tenant: Tenant, credential: Credential) -> None:
    provider_name = credential.provider.name
    await db.execute(delete(Credential).where(Credential.id == credential.id))
    await _record(db, actor, "credential.deleted", tenant, provider_name, credential)


async def _record(
    db: AsyncSession,
    actor: Actor,
    action: str,
    tenant: Tenant,
    provider_name: str,
    credential: Credential,
    **details: Any,
) -> None:
    """Every credential event: on the tenant's record, naming the label and key hint (never the secret)."""
    details = {"label": credential.label, "key_hint": credential.key_hint, **details}
    await audit.record(
        db, actor, action, tenant_id=tenant.id, target=f"credential:{provider_name}", details=details
    )


def open_credential(vault: Vault, tenant: Tenant, credential: Credential) -> dict[str, str]:
    """The plaintext secret fields; only for the use cases that need them (test, resolve)."""
    return vault.open_fields(
        tenant.wrapped_data_key,
        tenant_id=tenant.id,
        table=TABLE,
        row_id=credential.id,
        sealed=credential.sealed_fields,
    )
