"""`portal keys …` run as operators run it, on a temporary SQLite database: the first command and a
refused one as real processes (the secret alone on standard output, the exit status), the rest
in-process through click's runner (same code and streams, without a process start-up each)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from portal.apikeys import queries
from portal.catalog.services import sync_builtin_catalog
from portal.config import load_settings
from portal.db.base import utcnow
from portal.db.migrate import upgrade
from portal.db.models import ApiKey
from portal.db.session import command_session
from portal.tenants.services import find_tenant
from tests.support.env import cli_environ
from tests.support.factories import Factory
from tests.support.processes import run_portal

KEY_PATTERN = re.compile(r"^acme_sk_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = cli_environ(tmp_path, "keys.db", REDIS_URL="")
    for name, value in env.items():  # for the commands run in-process
        monkeypatch.setenv(name, value)

    async def seed() -> None:
        settings = load_settings(env)
        await upgrade(settings)
        async with Factory.on(settings) as make:
            async with make.work() as db:
                await sync_builtin_catalog(db)
            await make.tenant("Acme", slug="acme")

    asyncio.run(seed())
    return env


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def process(*args: str, env: dict[str, str]) -> Ran:
    """`portal keys …` as a real process."""
    done = run_portal("keys", *args, env=env)
    return Ran(done.returncode, done.stdout, done.stderr)


def keys(*args: str, env: dict[str, str]) -> Ran:
    """`portal keys …` in this process (the fixture put `env` in the environment)."""
    from click.testing import CliRunner

    from portal.cli import main

    assert all(os.environ.get(k) == v for k, v in env.items())
    result = CliRunner().invoke(main, ["keys", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def rows(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output)))


async def _spend(env: dict[str, str], key_id: str, dollars: str) -> None:
    """What a service's usage reports would have recorded."""
    async with Factory.on(load_settings(env)) as make:
        async with make.work() as db:
            key = await queries.find_key(db, key_id)
        await make.usage(key, dollars)


async def _age(env: dict[str, str], key_id: str, days: int) -> None:
    async with command_session(load_settings(env)) as db:
        old = utcnow() - timedelta(days=days)
        await db.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(key_id)).values(created_at=old))


def test_keys_commands_end_to_end(cli_env):
    created = process(
        "create",
        "--tenant",
        "acme",
        "--name",
        "prod-api-resolver-202611",
        "--limit",
        "1.00",
        "--reset",
        "monthly",
        "--expires",
        "90d",
        "--metadata",
        '{"env": "prod", "service": "api"}',
        env=cli_env,
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert KEY_PATTERN.match(secret), created.stdout  # the key alone on standard output
    assert created.stdout == secret + "\n"
    assert "not shown again" in created.stderr

    listed = keys("list", "--format", "csv", "--metadata", "env=prod", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    [row] = rows(listed.stdout)
    key_id = row["id"]
    assert row["name"] == "prod-api-resolver-202611" and row["limit"] == "$1.00" and row["state"] == "active"
    assert row["key"] == f"{secret[:12]}…{secret[-4:]}"
    assert secret not in listed.stdout + listed.stderr

    raised = keys("increase-limit", key_id, "1.50", env=cli_env)
    assert raised.returncode == 0 and "$1.00 -> $2.50" in raised.stdout, raised.stderr

    asyncio.run(_spend(cli_env, key_id, "2.20"))
    alert = keys("alert-if-over", "80%", env=cli_env)
    assert alert.returncode == 1, alert.stderr
    assert "prod-api-resolver-202611" in alert.stdout and "88%" in alert.stdout
    calm = keys("alert-if-over", "95%", env=cli_env)
    assert calm.returncode == 0 and calm.stdout == "", calm.stderr

    report = keys("usage-report", "--period", "7d", "--format", "csv", env=cli_env)
    assert report.returncode == 0, report.stderr
    [line] = rows(report.stdout)
    assert (line["tenant"], line["requests"], line["input_tokens"], line["cost_usd"]) == (
        "acme",
        "1",
        "1200",
        "2.200000",
    )

    forecast = keys("forecast", "--format", "csv", env=cli_env)
    assert forecast.returncode == 0, forecast.stderr
    [projection] = rows(forecast.stdout)
    assert projection["spent"] == "$2.20" and projection["limit"] == "$2.50" and projection["note"]

    health = keys("health-check", "--format", "csv", env=cli_env)
    assert health.returncode == 0, health.stderr
    assert "at 88% of its limit" in rows(health.stdout)[0]["problems"]

    rotated = keys("rotate", key_id, "--grace", "24h", env=cli_env)
    assert rotated.returncode == 0, rotated.stderr
    new_secret = rotated.stdout.strip()
    assert KEY_PATTERN.match(new_secret) and new_secret != secret
    assert "works until" in rotated.stderr
    assert f"the new key is {key_id}" not in rotated.stderr and "the new key is" in rotated.stderr

    legacy = keys("create", "--tenant", "acme", "--name", "legacy-batch-202501", env=cli_env)
    legacy_id = re.search(r"Created API key ([0-9a-f-]{36})", legacy.stderr).group(1)  # type: ignore[union-attr]
    asyncio.run(_age(cli_env, legacy_id, 120))
    swept = keys("revoke-all", "--older-than", "90d", env=cli_env)
    assert swept.returncode == 0, swept.stderr
    assert legacy_id in swept.stdout and "Revoked 1 key(s)" in swept.stderr
    assert legacy.stdout.strip() not in swept.stdout

    revoked = keys("revoke", key_id, env=cli_env)
    assert revoked.returncode == 0 and "Revoked" in revoked.stdout


def test_keys_commands_refuse_bad_input_clearly(cli_env, monkeypatch):
    bad = process("create", "--tenant", "acme", "--name", "x", "--limit", "five", env=cli_env)
    assert bad.returncode == 1 and bad.stdout == ""
    assert "limit_usd: a dollar amount such as 5.00" in bad.stderr
    # The rest in-process (same code, no process start-up).
    from click.testing import CliRunner

    from portal.cli import main

    runner = CliRunner()
    unknown = runner.invoke(main, ["keys", "revoke", str(uuid.uuid4())])
    assert unknown.exit_code == 1 and "API key not found" in unknown.output
    no_tenant = runner.invoke(main, ["keys", "create", "--tenant", "nope", "--name", "x"])
    assert no_tenant.exit_code == 1 and "Tenant not found" in no_tenant.output
    threshold = runner.invoke(main, ["keys", "alert-if-over", "lots"])
    assert threshold.exit_code == 2 and "percentage" in threshold.output
    for command in [
        "create",
        "list",
        "revoke",
        "rotate",
        "increase-limit",
        "revoke-all",
        "health-check",
        "usage-report",
        "alert-if-over",
        "forecast",
        "disable",
        "enable",
        "update",
    ]:
        helped = runner.invoke(main, ["keys", command, "--help"])
        assert helped.exit_code == 0 and "Usage:" in helped.output, command


def test_rate_limits_and_scopes_from_the_command_line(cli_env):
    created = keys(
        "create", "--tenant", "acme", "--name", "gw-svc-202611", "--rpm", "60", "--tpm", "100000", env=cli_env
    )
    assert created.returncode == 0, created.stderr
    key_id = re.search(r"Created API key ([0-9a-f-]{36})", created.stderr).group(1)  # type: ignore[union-attr]
    [row] = rows(keys("list", "--format", "csv", env=cli_env).stdout)
    assert (row["rpm"], row["tpm"]) == ("60", "100000")

    async def stored() -> ApiKey:
        async with command_session(load_settings(cli_env)) as db:
            return await queries.find_key(db, key_id)

    key = asyncio.run(stored())
    assert key.scopes == ["inference"]  # the default: calls through the gateway only
    assert (key.rpm_limit, key.tpm_limit) == (60, 100_000)

    changed = keys(
        "update",
        key_id,
        "--rpm",
        "none",
        "--tpm",
        "5000",
        "--scope",
        "inference",
        "--scope",
        "resolve",
        env=cli_env,
    )
    assert changed.returncode == 0, changed.stderr
    assert "rpm no limit, tpm 5000" in changed.stdout
    key = asyncio.run(stored())
    assert (key.rpm_limit, key.tpm_limit, key.scopes) == (None, 5000, ["inference", "resolve"])

    refused = keys("update", key_id, "--rpm", "0", "--tpm", "many", env=cli_env)
    assert refused.returncode == 1
    assert (
        "rpm_limit: must be more than 0" in refused.stderr and "tpm_limit: a whole number" in refused.stderr
    )
    assert keys("update", key_id, env=cli_env).returncode == 2  # nothing to change
    assert asyncio.run(stored()).tpm_limit == 5000


def tenants(*args: str) -> Ran:
    from click.testing import CliRunner

    from portal.cli import main

    result = CliRunner().invoke(main, ["tenants", *args])
    return Ran(result.exit_code, result.stdout, result.stderr)


def test_tenant_monthly_limit_from_the_command_line(cli_env):
    async def limit() -> int | None:
        async with command_session(load_settings(cli_env)) as db:
            return (await find_tenant(db, "acme")).monthly_limit_micros

    done = tenants("set-limit", "acme", "--monthly", "500")
    assert done.returncode == 0, done.stderr
    assert "Monthly limit of Acme (acme): $500.00." in done.stdout
    assert asyncio.run(limit()) == 500_000_000
    bad = tenants("set-limit", "acme", "--monthly", "-3")
    assert bad.returncode == 1 and "monthly_limit_usd: must be more than 0" in bad.stderr
    assert tenants("set-limit", "nope", "--monthly", "5").returncode == 1
    cleared = tenants("set-limit", "acme", "--monthly", "none")
    assert cleared.returncode == 0 and "no limit" in cleared.stdout
    assert asyncio.run(limit()) is None
