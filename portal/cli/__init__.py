"""The `portal` command: what operators script."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import click

from portal.apikeys.cli import keys as keys_group
from portal.audit.cli import audit as audit_group
from portal.config import ConfigError, Settings, load_settings
from portal.identity.federation.cli import import_tenants


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        click.echo("The portal cannot start; fix these settings:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Self-hosted admin portal for LLM credentials."""


@main.command("generate-encryption-key")
def generate_encryption_key() -> None:
    """Print a new Fernet key for ENCRYPTION_KEY."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target Alembic revision.")
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations."""
    from portal.db.migrate import upgrade_blocking

    upgrade_blocking(_settings(), revision)
    click.echo(f"Database upgraded to {revision}.")


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


@main.command("create-admin")
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
    from portal.db.engine import create_engine, create_session_factory
    from portal.errors import ServiceError
    from portal.identity.services import create_platform_admin, reset_platform_admin_mfa

    settings = _settings()
    password = "" if reset_mfa and not reset_password else _read_password()

    async def run() -> None:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                if password:
                    await create_platform_admin(
                        session,
                        Actor.system("cli"),
                        email=email,
                        password=password,
                        name=name,
                        replace_password=reset_password,
                    )
                if reset_mfa:
                    await reset_platform_admin_mfa(session, Actor.system("cli"), email=email)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    done = " Their second factor is reset: they enrol again at their next sign-in." if reset_mfa else ""
    click.echo(f"Platform admin {email.strip().lower()} is ready.{done}")


@main.command("rotate-master-key")
@click.option("--batch-size", default=500, show_default=True, help="Tenants per transaction.")
def rotate_master_key(batch_size: int) -> None:
    """Re-wrap every tenant data key under ENCRYPTION_KEY, then verify they all open with it.

    Put the new key in ENCRYPTION_KEY and the old ones in ENCRYPTION_KEY_PREVIOUS first.
    Safe to interrupt and run again. When it reports success, remove the old keys.
    """
    from portal.audit.actor import Actor
    from portal.crypto.keyring import MasterKeyring
    from portal.db.engine import create_engine, create_session_factory
    from portal.tenants.key_rotation import count_pending
    from portal.tenants.key_rotation import rotate_master_key as rotate

    settings = _settings()
    keyring = MasterKeyring(settings.encryption_key, settings.encryption_key_previous)

    async def run() -> Any:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        try:
            async with sessions() as session:
                pending = await count_pending(session, keyring)
            with click.progressbar(
                length=pending, label="Re-wrapping tenant data keys", file=sys.stderr
            ) as bar:
                return await rotate(
                    sessions, keyring, Actor.system("cli"), batch_size=batch_size, on_batch=bar.update
                )
        finally:
            await engine.dispose()

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


def _serve(settings: Settings, host: str, port: int, workers: int, migrate: bool) -> None:
    import uvicorn

    from portal.web import log_redaction

    log_redaction.install()  # in this process too (each worker's create_app installs its own)

    if migrate:
        from portal.db.migrate import upgrade_blocking

        upgrade_blocking(settings)
    if workers > 1 and not settings.redis_url:
        os.environ["PORTAL_SESSIONS_SHARED"] = "1"
    uvicorn.run(
        "portal.asgi:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
    )


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--no-migrate", is_flag=True, help="Do not apply migrations before starting.")
def serve(host: str, port: int, workers: int, no_migrate: bool) -> None:
    """Serve the portal (applies migrations first unless --no-migrate)."""
    _serve(_settings(), host, port, workers, not no_migrate)


DEMO_OUTBOUND_ALLOW = "127.0.0.1,::1"  # where the demo's stub provider and identity provider listen


@main.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--stub-port", default=8001, show_default=True, type=int, help="Port of the stub LLM provider.")
@click.option(
    "--idp-port", default=8002, show_default=True, type=int, help="Port of the demo identity provider."
)
def demo(host: str, port: int, stub_port: int, idp_port: int) -> None:
    """Run the portal with demo data: SQLite under var/, generated secrets, a stub provider,
    and a demo identity provider to sign in to the demo tenants through single sign-on."""
    from portal.config import REPO_ROOT
    from portal.db.migrate import upgrade_blocking
    from portal.demo.seed import ADMIN_EMAIL, DEMO_PROVIDER_KEY, load_or_create_demo_env, seed_demo
    from portal.demo.stub_provider import StubProvider

    var_dir = __import__("pathlib").Path(os.environ.get("PORTAL_VAR_DIR") or REPO_ROOT / "var")
    demo_env = load_or_create_demo_env(var_dir)
    for key in ("ENCRYPTION_KEY", "SESSION_SECRET", "API_KEY_SECRET", "SUPER_API_KEY"):
        os.environ.setdefault(key, demo_env[key])
    os.environ.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{var_dir / 'demo.db'}")
    # The demo's stub provider and identity provider listen on loopback, which the egress policy
    # refuses unless allowed: allow it here, explicitly, beside whatever the environment allows.
    allowed = [os.environ.get("OUTBOUND_ALLOW", "").strip(" ,"), DEMO_OUTBOUND_ALLOW]
    os.environ["OUTBOUND_ALLOW"] = ",".join(filter(None, allowed))
    stub = StubProvider({DEMO_PROVIDER_KEY}, port=stub_port).start()
    os.environ.setdefault("OPENAI_BASE_URL", f"{stub.url}/v1")
    os.environ.setdefault("PUBLIC_URL", f"http://{host}:{port}")  # the demo provider's exact redirect URI
    # A newcomer signs in with the printed password alone; a second factor can be set up after.
    os.environ.setdefault("PLATFORM_ADMIN_MFA", "optional")
    settings = _settings()
    upgrade_blocking(settings)
    asyncio.run(seed_demo(settings, demo_env["DEMO_ADMIN_PASSWORD"], stub.url))
    from portal.demo.sso import start_demo_sso

    _idp, sso_help = start_demo_sso(settings, "127.0.0.1", idp_port)
    click.echo(
        "\n  Demo portal: http://{host}:{port}/\n"
        "  Platform admin: {email}\n  Password:       {password}\n"
        "  Second factor:  {mfa} (PLATFORM_ADMIN_MFA={mfa}; production default: required)\n"
        "  API key (X-API-Key): {api_key}\n  OpenAPI:        http://{host}:{port}/schema\n"
        "  Demo secrets are kept in {env_file}\n"
        "  Outbound calls may reach loopback here: OUTBOUND_ALLOW={allowed}\n\n{sso_help}".format(
            host=host,
            port=port,
            email=ADMIN_EMAIL,
            password=demo_env["DEMO_ADMIN_PASSWORD"],
            mfa=settings.platform_admin_mfa,
            api_key=os.environ["SUPER_API_KEY"],
            env_file=var_dir / "demo.env",
            allowed=os.environ["OUTBOUND_ALLOW"],
            sso_help=sso_help,
        )
    )
    _serve(settings, host, port, 1, migrate=False)


main.add_command(audit_group)
main.add_command(import_tenants)
main.add_command(keys_group)

if __name__ == "__main__":
    main()
