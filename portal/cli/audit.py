"""`portal audit …`: checking the audit log, anchoring it outside the database, re-keying it once."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from portal.cli.common import run_in_transaction, settings_or_exit

T = TypeVar("T")


@click.group("audit")
def audit() -> None:
    """The audit log."""


def _run(work: Callable[[Any], Awaitable[T]]) -> T:
    return run_in_transaction(settings_or_exit(), work)


def _anchor(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[Any]:
    from portal.audit.chain import Anchor

    try:
        return [Anchor.parse(value) for value in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@audit.command("verify")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    callback=_anchor,
    metavar="ID:HASH",
    help="An anchor printed earlier by `portal audit anchor`: the chain must still hold that event.",
)
def verify(anchors: list[Any]) -> None:
    """Walk the keyed hash chain in id order; name the first edited or removed event (exit 1 if any)."""
    from portal.audit.chain import verify_chain

    report = _run(lambda db: verify_chain(db, anchors=anchors))
    if report.ok:
        anchored = f" Anchors held: {', '.join(f'#{a.event_id}' for a in anchors)}." if anchors else ""
        click.echo(f"Audit chain intact: {report.checked} events verified.{anchored}")
        return
    action = f" ({report.broken_action})" if report.broken_action else ""
    click.echo(
        f"Audit chain BROKEN at event #{report.broken_id}{action}: {report.reason}. "
        f"{report.checked} events before it verified.",
        err=True,
    )
    sys.exit(1)


@audit.command("anchor")
def anchor() -> None:
    """Print the chain's newest event as ID:HASH, to keep outside the database (a ticket, a log
    shipper, another system). `portal audit verify --anchor ID:HASH` later proves nothing up to it
    was removed or rewritten."""
    from portal.audit.chain import chain_head

    head = _run(chain_head)
    if head is None:
        click.echo("The audit log is empty: nothing to anchor yet.", err=True)
        sys.exit(1)
    click.echo(str(head))


@audit.command("rechain")
def rechain_command() -> None:
    """Re-hash the audit chain under the audit key (derived from API_KEY_SECRET). Run once after
    upgrading from a version whose chain was not keyed; it changes nothing unless the chain is intact."""
    from portal.audit.actor import Actor
    from portal.audit.chain import rechain

    report = _run(lambda db: rechain(db, Actor.system("cli")))
    if report.broken is not None:
        broken = report.broken
        click.echo(
            f"Nothing changed: the chain is broken at event #{broken.broken_id} ({broken.broken_action}): "
            f"{broken.reason}.",
            err=True,
        )
        sys.exit(1)
    click.echo(f"Audit chain keyed: {report.rekeyed} of {report.checked} events re-hashed.")
