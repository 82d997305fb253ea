"""Each tenant's identity provider settings: save (checked, the client secret sealed), show masked, delete."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.config import Settings
from portal.crypto.sealing import Undecryptable, masked_hint
from portal.crypto.vault import Vault
from portal.db.base import utcnow
from portal.db.models import IdentityProvider, Tenant
from portal.errors import Conflict, InvalidInput, NotFound
from portal.identity.federation.checks import CheckedInput, FederationInput, check_input
from portal.tenant_configs import CALLBACK_PATH

TABLE = "identity_providers"
SECRET_FIELD = "client_secret"
NO_SETTINGS = "This tenant has no identity provider settings"


@dataclass(frozen=True)
class FederationView:
    """What may be shown of a tenant's identity provider: never the secret, never its ciphertext."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    issuer: str
    client_id: str
    secret_hint: str
    secret_status: str  # "ok" | "undecryptable"
    secret_problem: str | None
    scopes: str
    allowed_domains: list[str]
    role_mapping: dict[str, Any]
    jit_provisioning: bool
    enabled: bool
    redirect_url: str
    redirect_url_overridden: bool
    emails_verified: bool
    frontend_url: str | None
    updated_at: datetime
    last_discovery_at: datetime | None
    last_discovery_ok: bool | None
    last_discovery_detail: str | None
    provider: str | None = None

    @property
    def encryption_status(self) -> str:
        """Eneo's word for secret_status: "encrypted" (it opens) or "undecryptable"."""
        return "encrypted" if self.secret_status == "ok" else "undecryptable"

    @property
    def role_claim(self) -> str:
        return str(self.role_mapping.get("claim") or "")

    @property
    def admin_values(self) -> list[str]:
        return [str(v) for v in self.role_mapping.get("admin_values") or []]


def callback_url(settings: Settings) -> str:
    return f"{settings.public_url}{CALLBACK_PATH}"


def redirect_url_for(settings: Settings, idp: IdentityProvider) -> str:
    """The redirect URI sent to the provider: the stored override, else PUBLIC_URL/auth/callback."""
    return idp.redirect_url or callback_url(settings)


def view_of(vault: Vault, settings: Settings, tenant: Tenant, idp: IdentityProvider) -> FederationView:
    problem = vault.check_fields(
        tenant.wrapped_data_key, tenant_id=tenant.id, table=TABLE, row_id=idp.id, sealed=idp.sealed_fields
    )
    return FederationView(
        id=idp.id,
        tenant_id=tenant.id,
        issuer=idp.issuer,
        client_id=idp.client_id,
        secret_hint=idp.secret_hint,
        secret_status="undecryptable" if problem else "ok",
        secret_problem=problem,
        scopes=idp.scopes,
        allowed_domains=list(idp.allowed_domains or []),
        role_mapping=dict(idp.role_mapping or {}),
        jit_provisioning=idp.jit_provisioning,
        emails_verified=idp.emails_verified,
        enabled=idp.enabled,
        redirect_url=redirect_url_for(settings, idp),
        redirect_url_overridden=bool(idp.redirect_url),
        frontend_url=idp.frontend_url,
        updated_at=idp.updated_at,
        last_discovery_at=idp.last_discovery_at,
        last_discovery_ok=idp.last_discovery_ok,
        last_discovery_detail=idp.last_discovery_detail,
        provider=idp.provider,
    )


async def find_idp(db: AsyncSession, tenant: Tenant) -> IdentityProvider | None:
    return await db.scalar(select(IdentityProvider).where(IdentityProvider.tenant_id == tenant.id))


async def get_federation(
    db: AsyncSession, vault: Vault, settings: Settings, tenant: Tenant
) -> FederationView | None:
    idp = await find_idp(db, tenant)
    return view_of(vault, settings, tenant, idp) if idp is not None else None


def _seal_secret(vault: Vault, tenant: Tenant, idp_id: uuid.UUID, secret: str) -> dict[str, str]:
    try:
        return vault.seal_fields(
            tenant.wrapped_data_key,
            tenant_id=tenant.id,
            table=TABLE,
            row_id=idp_id,
            values={SECRET_FIELD: secret},
        )
    except Undecryptable as exc:
        raise InvalidInput({"client_secret": f"the tenant's data key cannot be opened: {exc}"}) from exc


def open_client_secret(vault: Vault, tenant: Tenant, idp: IdentityProvider) -> str:
    """The plaintext client secret: only to exchange a sign-in code. Raises Undecryptable."""
    opened = vault.open_fields(
        tenant.wrapped_data_key, tenant_id=tenant.id, table=TABLE, row_id=idp.id, sealed=idp.sealed_fields
    )
    if SECRET_FIELD not in opened:
        raise Undecryptable("no client secret is stored")
    return opened[SECRET_FIELD]


def _changes(idp: IdentityProvider | None, checked: CheckedInput, secret_changed: bool) -> list[str]:
    fields = (
        "issuer",
        "client_id",
        "scopes",
        "allowed_domains",
        "role_mapping",
        "jit_provisioning",
        "enabled",
        "emails_verified",
    )
    changed = [name for name in fields if idp is None or getattr(idp, name) != getattr(checked, name)]
    if idp is None or (idp.redirect_url or None) != checked.redirect_url:
        changed.append("redirect_url")
    if secret_changed:
        changed.append("client_secret")
    return changed


async def save_federation(
    db: AsyncSession,
    vault: Vault,
    settings: Settings,
    actor: Actor,
    tenant: Tenant,
    data: FederationInput,
    *,
    frontend_url: str | None = None,
) -> FederationView:
    """Create or replace the tenant's identity provider settings, sealed and audited (flushed: the
    caller's unit of work commits)."""
    idp = await find_idp(db, tenant)
    checked = check_input(
        data, has_stored_secret=idp is not None and SECRET_FIELD in idp.sealed_fields, stored=idp
    )
    creating = idp is None
    if idp is None:
        idp = IdentityProvider(id=uuid.uuid4(), tenant_id=tenant.id, sealed_fields={}, role_mapping={})
    secret_changed = checked.client_secret is not None
    if secret_changed and not creating:
        try:
            secret_changed = open_client_secret(vault, tenant, idp) != checked.client_secret
        except Undecryptable:
            secret_changed = True
    changed = _changes(None if creating else idp, checked, secret_changed)
    if frontend_url is not None and frontend_url != idp.frontend_url:
        changed.append("frontend_url")
        idp.frontend_url = frontend_url
    if data.provider is not None and data.provider != idp.provider:
        changed.append("provider")
        idp.provider = data.provider
    if not changed:
        return view_of(vault, settings, tenant, idp)
    if secret_changed and checked.client_secret is not None:
        idp.sealed_fields = _seal_secret(vault, tenant, idp.id, checked.client_secret)
        idp.secret_hint = masked_hint(checked.client_secret)
    if {"issuer"} & set(changed):
        idp.last_discovery_at = idp.last_discovery_ok = idp.last_discovery_detail = None
    idp.issuer = checked.issuer
    idp.client_id = checked.client_id
    idp.scopes = checked.scopes
    idp.allowed_domains = checked.allowed_domains
    idp.role_mapping = checked.role_mapping
    idp.jit_provisioning = checked.jit_provisioning
    idp.enabled = checked.enabled
    idp.emails_verified = checked.emails_verified
    idp.redirect_url = checked.redirect_url
    idp.updated_at = utcnow()
    if creating:
        db.add(idp)
    await _record(
        db,
        actor,
        "federation.created" if creating else "federation.updated",
        tenant,
        idp,
        {
            "changed": changed,
            "secret_hint": idp.secret_hint,
            "scopes": checked.scopes,
            "allowed_domains": checked.allowed_domains,
            "role_mapping": checked.role_mapping,
            "jit_provisioning": checked.jit_provisioning,
            "enabled": checked.enabled,
            "emails_verified": checked.emails_verified,
        },
    )
    try:
        await db.flush()
    except IntegrityError as exc:
        raise Conflict("The identity provider settings were changed meanwhile; reload and try again") from exc
    return view_of(vault, settings, tenant, idp)


async def delete_federation(db: AsyncSession, actor: Actor, tenant: Tenant) -> None:
    idp = await find_idp(db, tenant)
    if idp is None:
        raise NotFound(NO_SETTINGS)
    await db.execute(delete(IdentityProvider).where(IdentityProvider.id == idp.id))
    await _record(db, actor, "federation.deleted", tenant, idp, {})


async def _record(
    db: AsyncSession,
    actor: Actor,
    action: str,
    tenant: Tenant,
    idp: IdentityProvider,
    details: dict[str, Any],
) -> None:
    """Every change of the settings: on the tenant's record, naming the provider (issuer, client id)."""
    named = {"issuer": idp.issuer, "client_id": idp.client_id, **details}
    await audit.record(
        db, actor, action, tenant_id=tenant.id, target=f"identity_provider:{tenant.slug}", details=named
    )
    await db.flush()
