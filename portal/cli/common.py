"""What every `portal` command shares: the settings (or a clear exit) and one transaction per command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from portal.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:  # SQLAlchemy and the services are imported only when a command runs
    from sqlalchemy.ext.asyncio import AsyncSession

    from portal.crypto.vault import Vault

T = TypeVar("T")


def settings_or_exit() -> Settings:
    """The validated settings; otherwise every problem on standard error and exit status 2."""
    try:
        return load_settings()
    except ConfigError as exc:
        click.echo("The portal cannot start; fix these settings:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)


def vault_of(settings: Settings) -> Vault:
    from portal.crypto.vault import Vault

    return Vault.of_keys(settings.encryption_key, settings.encryption_key_previous)


def run_in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one use case in one transaction (committed when it returns, rolled back when it raises)."""
    from portal.db.session import command_session

    async def run() -> T:
        async with command_session(settings) as db:
            return await work(db)

    return asyncio.run(run())


def run_published(work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    """Run one use case in one transaction against the configured database; committed changes reach
    running servers through Redis (else their poll). Service errors become clear messages."""
    from portal.apikeys.changes import ChangePublisher
    from portal.db.session import database, unit_of_work
    from portal.errors import InvalidInput, ServiceError

    settings = settings_or_exit()

    async def run() -> T:
        async with database(settings) as (engine, sessions):
            publisher = ChangePublisher(engine, settings)
            async with unit_of_work(sessions) as db:
                result = await work(db, settings)
            await publisher.flush()
            return result

    try:
        return asyncio.run(run())
    except InvalidInput as exc:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from exc
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
