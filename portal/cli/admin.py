"""`portal create-admin` and `portal rotate-master-key`: platform admins and the master keyring."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from portal.cli.common import run_in_transaction, settings_or_exit, vault_of


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


@click.command("create-admin")
@click.option("--email", required=True, help="The platform admin's e-mail (their login).")
@click.option("--name", default="", help="Display name.")
@click.option("--reset-password", is_flag=True, help="Set a new password for an existing admin.")
@click.option(
    "--reset-mfa",
    is_flag=True,
    help="Forget an existing admin's second factor (they enrol again at their next sign-in); no password.",
)
def create_admin(email: str, name: str, reset_password: bool, reset_mfa: bool) -> None:
    """Create a platform admin; the password is read from standard input. Either reset ends the
    admin's sessions."""
    from portal.audit.actor import Actor
    from portal.errors import ServiceError
    from portal.identity.services import create_platform_admin, reset_platform_admin_mfa

    settings = settings_or_exit()
    password = "" if reset_mfa and not reset_password else _read_password()
    actor = Actor.system("cli")

    async def work(session: Any) -> None:
        if password:
            await create_platform_admin(
                session, actor, email=email, password=password, name=name, replace_password=reset_password
            )
        if reset_mfa:
            await reset_platform_admin_mfa(session, actor, email=email)

    try:
        run_in_transaction(settings, work)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    done = " Their second factor is reset: they enrol again at their next sign-in." if reset_mfa else ""
    click.echo(f"Platform admin {email.strip().lower()} is ready.{done}")


@click.command("rotate-master-key")
@click.option("--batch-size", default=500, show_default=True, help="Tenants per transaction.")
def rotate_master_key(batch_size: int) -> None:
    """Re-wrap every tenant data key under ENCRYPTION_KEY, then verify they all open with it.

    Put the new key in ENCRYPTION_KEY and the old ones in ENCRYPTION_KEY_PREVIOUS first.
    Safe to interrupt and run again. When it reports success, remove the old keys.
    """
    from portal.audit.actor import Actor
    from portal.db.session import database
    from portal.tenants.key_rotation import count_pending
    from portal.tenants.key_rotation import rotate_master_key as rotate

    settings = settings_or_exit()
    keyring = vault_of(settings).keyring

    async def run() -> Any:
        # Batches commit one by one (an interrupted run keeps what it did): sessions, not one transaction.
        async with database(settings) as (_engine, sessions):
            async with sessions() as session:
                pending = await count_pending(session, keyring)
            with click.progressbar(
                length=pending, label="Re-wrapping tenant data keys", file=sys.stderr
            ) as bar:
                return await rotate(
                    sessions, keyring, Actor.system("cli"), batch_size=batch_size, on_batch=bar.update
                )

    report = asyncio.run(run())
    click.echo(f"Re-wrapped {report.rotated} of {report.to_rotate} tenant data keys.")
    click.echo(f"Verified {report.verified} data keys open with ENCRYPTION_KEY alone.")
    if report.failed:
        click.echo(f"Could not open (no configured key): {', '.join(report.failed[:20])}", err=True)
    if report.not_opening:
        click.echo(f"Still not opening with ENCRYPTION_KEY: {', '.join(report.not_opening[:20])}", err=True)
    if not report.ok:
        sys.exit(1)
    click.echo("Done: the keys in ENCRYPTION_KEY_PREVIOUS are no longer needed.")
