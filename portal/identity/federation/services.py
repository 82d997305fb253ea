"""Each tenant's identity provider: validate, seal the client secret, show masked, delete, test discovery."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
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
from portal.identity.oidc.metadata import DiscoveryError, ProviderMetadata, fetch_discovery
from portal.tenant_configs import (
    CALLBACK_PATH,
    DEFAULT_SCOPES,
    normalise_scopes,
    redirect_url_problem,
    url_problem,
)

TABLE = "identity_providers"
SECRET_FIELD = "client_secret"
DOMAIN_PATTERN = r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
CLAIM_PATTERN = r"^[A-Za-z0-9_:./-]{1,100}$"
MAX_DOMAINS = 50
MAX_ADMIN_VALUES = 50


@dataclass
class FederationInput:
    """What a person or a script submits; `client_secret` None (or blank) keeps the stored one."""

    issuer: str = ""
    client_id: str = ""
    client_secret: str | None = field(default=None, repr=False)
    scopes: str | list[str] | None = None
    allowed_domains: str | list[str] | None = None
    role_claim: str = ""
    admin_values: str | list[str] | None = None
    jit_provisioning: bool = False
    enabled: bool = True
    redirect_url: str | None = None
    emails_verified: bool = False


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

    @property
    def role_claim(self) -> str:
        return str(self.role_mapping.get("claim") or "")

    @property
    def admin_values(self) -> list[str]:
        return [str(v) for v in self.role_mapping.get("admin_values") or []]


@dataclass(frozen=True)
class DiscoveryReport:
    ok: bool
    issuer: str
    detail: str
    metadata: ProviderMetadata | None = None
    tested_at: datetime | None = None


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
    )


async def find_idp(db: AsyncSession, tenant: Tenant) -> IdentityProvider | None:
    return await db.scalar(select(IdentityProvider).where(IdentityProvider.tenant_id == tenant.id))


async def get_federation(
    db: AsyncSession, vault: Vault, settings: Settings, tenant: Tenant
) -> FederationView | None:
    idp = await find_idp(db, tenant)
    return view_of(vault, settings, tenant, idp) if idp is not None else None


def _words(raw: str | list[str] | None) -> list[str]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else re.split(r"[\s,;]+", raw)
    return [w.strip() for w in items if isinstance(w, str) and w.strip()]


def check_domains(raw: str | list[str] | None) -> tuple[list[str], str | None]:
    domains = list(dict.fromkeys(d.lower().lstrip("@") for d in _words(raw)))
    bad = [d for d in domains if not re.fullmatch(DOMAIN_PATTERN, d)]
    if bad:
        return domains, f"not a domain name: {', '.join(bad[:3])} (write e.g. example.com, without @)"
    if len(domains) > MAX_DOMAINS:
        return domains, f"at most {MAX_DOMAINS} domains"
    return domains, None


@dataclass(frozen=True)
class CheckedInput:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str
    allowed_domains: list[str]
    role_mapping: dict[str, Any]
    jit_provisioning: bool
    enabled: bool
    redirect_url: str | None
    emails_verified: bool


def check_input(
    data: FederationInput, *, has_stored_secret: bool, stored: IdentityProvider | None = None
) -> CheckedInput:
    """Trim and check every field; InvalidInput names each problem beside its field."""
    errors: dict[str, str] = {}
    issuer = (data.issuer or "").strip()
    client_id = (data.client_id or "").strip()
    secret = (data.client_secret or "").strip() or None
    if not issuer:
        errors["issuer"] = (
            "required: the provider's issuer URL, e.g. https://login.example.com/realms/acme "
            "(to turn single sign-on off, untick Enabled or delete the settings)"
        )
    elif problem := url_problem(issuer, what="issuer URL", issuer=True):
        errors["issuer"] = problem
    if issuer and not client_id:
        errors["client_id"] = "required when an issuer is given: the client id registered at the provider"
    elif len(client_id) > 255 or re.search(r"\s", client_id):
        errors["client_id"] = "at most 255 characters, without spaces"
    if issuer and secret is None and not has_stored_secret:
        errors["client_secret"] = "required when an issuer is given: the client secret the provider issued"
    elif secret is None and stored is not None and (stored.issuer, stored.client_id) != (issuer, client_id):
        # The stored secret was issued by the old provider for the old client: never send it elsewhere.
        errors["client_secret"] = (
            "enter the client secret again: the issuer or client id changed, and the stored secret "
            "belongs to the old one"
        )
    elif secret is not None and len(secret) > 2000:
        errors["client_secret"] = "at most 2000 characters"
    scopes, scope_problem = normalise_scopes(data.scopes)
    if scope_problem:
        errors["scopes"] = scope_problem
    domains, domain_problem = check_domains(data.allowed_domains)
    if domain_problem:
        errors["allowed_domains"] = domain_problem
    claim = (data.role_claim or "").strip()
    admin_values = list(dict.fromkeys(_words(data.admin_values)))
    if claim and not re.fullmatch(CLAIM_PATTERN, claim):
        errors["role_claim"] = "a claim name such as groups or roles (letters, digits, _ : . / -)"
    if admin_values and not claim:
        errors["role_claim"] = "name the claim that carries these values, e.g. groups"
    if claim and not admin_values:
        errors["admin_values"] = "the claim values that make someone a tenant admin, e.g. portal-admins"
    elif len(admin_values) > MAX_ADMIN_VALUES or any(len(v) > 200 for v in admin_values):
        errors["admin_values"] = f"at most {MAX_ADMIN_VALUES} values of up to 200 characters"
    if data.jit_provisioning and not domains and "allowed_domains" not in errors:
        errors["allowed_domains"] = (
            "list the e-mail domains whose people may join by themselves (just-in-time provisioning)"
        )
    redirect = (data.redirect_url or "").strip() or None
    if redirect and (problem := redirect_url_problem(redirect)):
        errors["redirect_url"] = problem
    if errors:
        raise InvalidInput(errors)
    return CheckedInput(
        issuer=issuer,
        client_id=client_id,
        client_secret=secret,
        scopes=scopes or DEFAULT_SCOPES,
        allowed_domains=domains,
        role_mapping={"claim": claim, "admin_values": admin_values} if claim else {},
        jit_provisioning=bool(data.jit_provisioning),
        enabled=bool(data.enabled),
        redirect_url=redirect,
        emails_verified=bool(data.emails_verified),
    )


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
    commit: bool = True,
    frontend_url: str | None = None,
) -> FederationView:
    """Create or replace the tenant's identity provider settings, sealed and audited, in one transaction."""
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
    await audit.record(
        db,
        actor,
        "federation.created" if creating else "federation.updated",
        tenant_id=tenant.id,
        target=f"identity_provider:{tenant.slug}",
        details={
            "changed": changed,
            "issuer": checked.issuer,
            "client_id": checked.client_id,
            "secret_hint": idp.secret_hint,
            "scopes": checked.scopes,
            "allowed_domains": checked.allowed_domains,
            "role_mapping": checked.role_mapping,
            "jit_provisioning": checked.jit_provisioning,
            "enabled": checked.enabled,
            "emails_verified": checked.emails_verified,
        },
    )
    if commit:
        try:
            await db.commit()
        except IntegrityError as exc:
            await db.rollback()
            raise Conflict(
                "The identity provider settings were changed meanwhile; reload and try again"
            ) from exc
    else:
        await db.flush()
    return view_of(vault, settings, tenant, idp)


async def delete_federation(db: AsyncSession, actor: Actor, tenant: Tenant) -> None:
    idp = await find_idp(db, tenant)
    if idp is None:
        raise NotFound("This tenant has no identity provider settings")
    await db.execute(delete(IdentityProvider).where(IdentityProvider.id == idp.id))
    await audit.record(
        db,
        actor,
        "federation.deleted",
        tenant_id=tenant.id,
        target=f"identity_provider:{tenant.slug}",
        details={"issuer": idp.issuer, "client_id": idp.client_id},
    )
    await db.commit()


def describe(metadata: ProviderMetadata) -> str:
    parts = [f"Found {metadata.issuer}: sign-in at {metadata.authorization_endpoint}"]
    parts.append(f"token endpoint {metadata.token_endpoint}")
    parts.append("user info available" if metadata.userinfo_endpoint else "no user info endpoint")
    parts.append("sign-out supported" if metadata.end_session_endpoint else "no sign-out endpoint")
    if metadata.code_challenge_methods and "S256" in metadata.code_challenge_methods:
        parts.append("PKCE S256 supported")
    return "; ".join(parts) + "."


async def test_discovery(
    db: AsyncSession,
    settings: Settings,
    http: httpx.AsyncClient,
    actor: Actor,
    tenant: Tenant,
    *,
    issuer: str | None = None,
) -> DiscoveryReport:
    """Fetch the issuer's .well-known/openid-configuration (short timeout) and say what was found.

    Without `issuer`, the stored one is tested and the result is kept as last_discovery_*.
    """
    idp = await find_idp(db, tenant)
    candidate = (issuer or "").strip()
    if not candidate:
        if idp is None:
            raise InvalidInput({"issuer": "required: save the settings first, or give an issuer to test"})
        candidate = idp.issuer
    elif problem := url_problem(candidate, what="issuer URL", issuer=True):
        raise InvalidInput({"issuer": problem})
    try:
        metadata = await fetch_discovery(http, candidate, seconds=settings.provider_test_timeout)
    except DiscoveryError as exc:
        report = DiscoveryReport(False, candidate, exc.reason, None, utcnow())
    else:
        report = DiscoveryReport(True, candidate, describe(metadata), metadata, utcnow())
    if idp is not None and candidate == idp.issuer:
        idp.last_discovery_at = report.tested_at
        idp.last_discovery_ok = report.ok
        idp.last_discovery_detail = report.detail[:500]
    await audit.record(
        db,
        actor,
        "federation.discovery_tested",
        tenant_id=tenant.id,
        target=f"identity_provider:{tenant.slug}",
        outcome="success" if report.ok else "failure",
        details={"issuer": candidate, "detail": report.detail[:500]},
    )
    await db.commit()
    return report
