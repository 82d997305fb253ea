"""`portal import-tenants`: TENANT_CONFIGS (or a file) into the database, idempotently."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import NoReturn

import click


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
    from portal.cli import _settings
    from portal.crypto.vault import Vault
    from portal.db.engine import create_engine, create_session_factory
    from portal.identity.federation.tenant_configs import TenantConfigError, parse_tenant_configs
    from portal.identity.federation.tenant_import import ImportReport, import_tenant_configs

    settings = _settings()
    try:
        configs = parse_tenant_configs(path.read_text()) if path else settings.tenant_configs
    except TenantConfigError as exc:
        _fail(exc.problems)
    if not configs and not settings.default_tenant_id:
        click.echo("Nothing to import: set TENANT_CONFIGS (a JSON array of tenants) or pass --file.")
        return

    async def run() -> ImportReport:
        engine = create_engine(settings)
        vault = Vault.of_keys(settings.encryption_key, settings.encryption_key_previous)
        try:
            async with create_session_factory(engine)() as db:
                return await import_tenant_configs(db, vault, settings, Actor.system("cli"), configs)
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
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
