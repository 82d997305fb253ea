"""The `portal` command, run as operators run it: a real process on a real database."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from portal.catalog.services import sync_builtin_catalog
from portal.config import load_settings
from tests.support.env import cli_environ
from tests.support.factories import Factory
from tests.support.processes import run_portal


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    return cli_environ(tmp_path, "cli.db")


def test_help_on_every_command():
    from click.testing import CliRunner

    from portal.cli import main

    commands = ["generate-encryption-key", "db", "create-admin", "serve", "rotate-master-key", "demo"]
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in commands:
        assert command in result.output
    for command in [*commands[:1], "db upgrade", *commands[2:]]:
        helped = CliRunner().invoke(main, [*command.split(), "--help"])
        assert helped.exit_code == 0 and "Usage:" in helped.output


def test_generate_encryption_key_prints_a_fernet_key():
    result = run_portal("generate-encryption-key", env={})
    Fernet(result.stdout.strip().encode())


def test_refuses_to_start_without_a_key_and_says_how_to_make_one(tmp_path):
    env = {k: "" for k in ("ENCRYPTION_KEY", "SESSION_SECRET", "DATABASE_URL")}
    result = run_portal("db", "upgrade", env=env)
    assert result.returncode == 2
    assert "ENCRYPTION_KEY: not set; make one with: portal generate-encryption-key" in result.stderr
    assert "SESSION_SECRET" in result.stderr


def test_upgrade_create_admin_and_rotate(cli_env):
    assert run_portal("db", "upgrade", env=cli_env).returncode == 0
    created = run_portal(
        "create-admin", "--email", "Ops@Example.com", env=cli_env, stdin="a long enough password\n"
    )
    assert created.returncode == 0, created.stderr
    assert "ops@example.com" in created.stdout
    again = run_portal(
        "create-admin", "--email", "ops@example.com", env=cli_env, stdin="a long enough password\n"
    )
    assert again.returncode != 0 and "exists already" in again.stderr
    weak = run_portal("create-admin", "--email", "new@example.com", env=cli_env, stdin="short\n")
    assert weak.returncode != 0 and "password" in weak.stderr
    reset = run_portal("create-admin", "--email", "ops@example.com", "--reset-mfa", env=cli_env)
    assert reset.returncode == 0 and "enrol again" in reset.stdout, reset.stderr
    nobody = run_portal("create-admin", "--email", "nobody@example.com", "--reset-mfa", env=cli_env)
    assert nobody.returncode != 0 and "No platform admin" in nobody.stderr

    import asyncio

    secret = "sk-cli-rotation-secret-0001"

    async def seed() -> None:
        async with Factory.on(load_settings(cli_env)) as make:
            async with make.work() as db:
                await sync_builtin_catalog(db)
            for number in range(3):
                tenant = await make.tenant(f"C{number}", slug=f"cli-{number}")
                await make.credential(tenant, "openai", {"api_key": secret})

    asyncio.run(seed())
    rotated_env = {
        **cli_env,
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ENCRYPTION_KEY_PREVIOUS": cli_env["ENCRYPTION_KEY"],
    }
    result = run_portal("rotate-master-key", "--batch-size", "2", env=rotated_env)
    assert result.returncode == 0, result.stderr
    assert "Re-wrapped 3 of 3" in result.stdout
    assert "Verified 3" in result.stdout
    assert secret not in result.stdout + result.stderr
    assert cli_env["ENCRYPTION_KEY"] not in result.stdout + result.stderr
    again = run_portal("rotate-master-key", env=rotated_env)
    assert again.returncode == 0 and "Re-wrapped 0 of 0" in again.stdout

    without_old = {**rotated_env, "ENCRYPTION_KEY_PREVIOUS": ""}
    check = run_portal("rotate-master-key", env=without_old)
    assert check.returncode == 0 and "Verified 3" in check.stdout
