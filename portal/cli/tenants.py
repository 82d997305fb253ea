"""`portal import-tenants`: TENANT_CONFIGS (or a file) into the database, idempotently;
`portal tenants …`: a tenant's platform-level settings (its monthly spend limit)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from portal.cli.common import run_in_transaction, run_published, settings_or_exit, vault_of

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from portal.config import Settings
    from portal.db.models import Tenant


@click.command("import-tenants")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the JSON array from this file instead of the TENANT_CONFIGS variable.",
)
def import_tenants(path: Path | None) -> None:
    """Create or update the tenants (and their OIDC settings) described by TENANT_CONFIGS.

    Safe to run again: what is already as described is left alone. One invalid entry stops the
    whole import (nothing is applied) and the error names the entry and the field.
    """
    from portal.audit.actor import Actor
    from portal.identity.federation.tenant_import import import_tenant_configs
    from portal.tenant_configs import TenantConfigError, parse_tenant_configs

    settings = settings_or_exit()
    try:
        configs = parse_tenant_configs(path.read_text()) if path else settings.tenant_configs
    except TenantConfigError as exc:
        _fail(exc.problems)
    if not configs and not settings.default_tenant_id:
        click.echo("Nothing to import: set TENANT_CONFIGS (a JSON array of tenants) or pass --file.")
        return

    vault = vault_of(settings)
    try:
        report = run_in_transaction(
            settings, lambda db: import_tenant_configs(db, vault, settings, Actor.system("cli"), configs)
        )
    except TenantConfigError as exc:
        _fail(exc.problems)
    for line in report.lines():
        click.echo(line)
    click.echo(
        f"Imported {len(configs)} tenant(s): {len(report.created)} created, "
        f"{len(report.updated)} updated, {len(report.unchanged)} unchanged."
    )


def _fail(problems: list[str]) -> NoReturn:
    click.echo("Nothing was imported; fix TENANT_CONFIGS:", err=True)
    for problem in problems:
        click.echo(f"  - {problem}", err=True)
    sys.exit(2)


@click.group("tenants")
def tenants() -> None:
    """A tenant's platform-level settings."""


@tenants.command("set-limit")
@click.argument("tenant_ref", metavar="SLUG")
@click.option(
    "--monthly",
    required=True,
    metavar="USD|none",
    help="The whole tenant's spend limit per calendar month (UTC) in USD, e.g. 500, or none.",
)
def set_limit(tenant_ref: str, monthly: str) -> None:
    """Set the tenant's monthly spend limit, beside each key's own (the gateway refuses past it)."""
    from portal.apikeys.money import format_usd
    from portal.audit.actor import Actor
    from portal.tenants.services import find_tenant, set_monthly_limit

    async def work(db: AsyncSession, _settings: Settings) -> Tenant:
        tenant = await find_tenant(db, tenant_ref)
        return await set_monthly_limit(db, Actor.system("cli"), tenant, monthly)

    tenant = run_published(work)
    click.echo(f"Monthly limit of {tenant.name} ({tenant.slug}): {format_usd(tenant.monthly_limit_micros)}.")
