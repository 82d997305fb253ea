"""Importing TENANT_CONFIGS: tenants and their identity providers, idempotently, in one transaction.

Run at every start and by `portal import-tenants`. An entry creates its tenant or brings its name
and OIDC settings up to date; running it again changes nothing. Settings the file does not carry
(allowed domains, role mapping, just-in-time provisioning) are left as the tenant's admins set them.
Any problem rolls the whole import back: nothing of it is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.config import Settings
from portal.crypto.vault import Vault
from portal.db.models import Tenant
from portal.errors import ServiceError
from portal.identity.federation import services as federation
from portal.tenant_configs import TenantConfig, TenantConfigError
from portal.tenants import services as tenants


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    ignored_fields: dict[str, list[str]] = field(default_factory=dict)
    default_tenant: str | None = None

    def lines(self) -> list[str]:
        out = [f"created {slug}" for slug in self.created]
        out += [f"updated {slug}" for slug in self.updated]
        out += [f"unchanged {slug}" for slug in self.unchanged]
        for slug, names in self.ignored_fields.items():
            out.append(f"ignored for {slug} (not used by the portal): {', '.join(names)}")
        if self.default_tenant:
            out.append(f"default tenant: {self.default_tenant}")
        return out


def _entry(position: int, config: TenantConfig) -> str:
    return f"TENANT_CONFIGS entry #{position} (tenant_id {config.slug!r})"


async def _apply(
    db: AsyncSession,
    vault: Vault,
    settings: Settings,
    actor: Actor,
    position: int,
    config: TenantConfig,
    report: ImportReport,
) -> None:
    where = _entry(position, config)
    tenant = await db.scalar(select(Tenant).where(Tenant.slug == config.slug))
    changed = False
    try:
        if tenant is None:
            tenant = await tenants.create_tenant(db, vault, actor, name=config.name, slug=config.slug)
            report.created.append(config.slug)
        elif tenant.name != config.name:
            await audit.record(
                db,
                actor,
                "tenant.updated",
                tenant_id=tenant.id,
                target=f"tenant:{tenant.slug}",
                details={"name": {"from": tenant.name, "to": config.name}, "source": "TENANT_CONFIGS"},
            )
            tenant.name = config.name
            changed = True
    except ServiceError as exc:
        raise TenantConfigError([f"{where}: {exc.message}"]) from exc
    if config.oidc is not None:
        existing = await federation.find_idp(db, tenant)
        before = existing.updated_at if existing is not None else None
        submitted = federation.FederationInput(
            issuer=config.oidc.issuer,
            client_id=config.oidc.client_id,
            client_secret=config.oidc.client_secret,
            scopes=config.oidc.scopes,
            allowed_domains=list(existing.allowed_domains or []) if existing else [],
            role_claim=str((existing.role_mapping or {}).get("claim") or "") if existing else "",
            admin_values=list((existing.role_mapping or {}).get("admin_values") or []) if existing else [],
            jit_provisioning=existing.jit_provisioning if existing else False,
            enabled=existing.enabled if existing else True,
            redirect_url=config.oidc.redirect_url,
        )
        try:
            view = await federation.save_federation(
                db, vault, settings, actor, tenant, submitted, frontend_url=config.frontend_url
            )
        except ServiceError as exc:
            detail = "; ".join(f"oidc_{k}: {v}" for k, v in getattr(exc, "errors", {}).items()) or exc.message
            raise TenantConfigError([f"{where}: {detail}"]) from exc
        changed = changed or view.updated_at != before
    if config.slug not in report.created:
        (report.updated if changed else report.unchanged).append(config.slug)
    if config.ignored_fields:
        report.ignored_fields[config.slug] = list(config.ignored_fields)


async def import_tenant_configs(
    db: AsyncSession,
    vault: Vault,
    settings: Settings,
    actor: Actor,
    configs: tuple[TenantConfig, ...] | None = None,
    *,
    default_tenant_id: str | None = None,
) -> ImportReport:
    """Apply every entry in the caller's transaction; TenantConfigError names entry and field (and the
    caller's unit of work rolls back: nothing is applied)."""
    configs = settings.tenant_configs if configs is None else configs
    default_tenant_id = default_tenant_id or settings.default_tenant_id
    report = ImportReport()
    for position, config in enumerate(configs, start=1):
        await _apply(db, vault, settings, actor, position, config, report)
    if default_tenant_id:
        known = await db.scalar(select(Tenant.id).where(Tenant.slug == default_tenant_id))
        if known is None:
            raise TenantConfigError(
                [
                    f"DEFAULT_TENANT_ID: no tenant {default_tenant_id!r}; use the tenant_id of an entry "
                    "in TENANT_CONFIGS or the slug of an existing tenant"
                ]
            )
        report.default_tenant = default_tenant_id
    if report.created or report.updated:
        await audit.record(
            db,
            actor,
            "tenants.imported",
            target="TENANT_CONFIGS",
            details={"created": report.created, "updated": report.updated, "unchanged": report.unchanged},
        )
    await db.flush()
    return report
