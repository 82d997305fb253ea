"""`portal audit …`: checking the audit log."""

from __future__ import annotations

import asyncio
import sys

import click


@click.group("audit")
def audit() -> None:
    """The audit log."""


@audit.command("verify")
def verify() -> None:
    """Walk the hash chain in id order; name the first edited or removed event (exit 1 if any)."""
    from portal.audit.chain import verify_chain
    from portal.cli import _settings
    from portal.db.engine import create_engine, create_session_factory

    settings = _settings()

    async def run():  # type: ignore[no-untyped-def]
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as db:
                return await verify_chain(db)
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    if report.ok:
        click.echo(f"Audit chain intact: {report.checked} events verified.")
        return
    click.echo(
        f"Audit chain BROKEN at event #{report.broken_id} ({report.broken_action}): {report.reason}. "
        f"{report.checked} events before it verified.",
        err=True,
    )
    sys.exit(1)
