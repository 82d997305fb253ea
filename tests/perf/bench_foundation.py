"""Foundation benchmark: the credentials page, the credentials JSON listing and master-key rotation.

With N tenants and M credentials in a fresh SQLite database it measures, against the real app
served by uvicorn in a separate process:

- the median (p90, p99) time of GET /t/{slug}/credentials, signed in through the /login form;
- the median (p90, p99) time of GET /api/v1/sysadmin/tenants/{slug}/credentials with X-API-Key;
- the wall time of `portal rotate-master-key` run as a real process, and its time without start-up.

Targets (from the issue): page and listing under 50 ms median; rotation of 10,000 tenants under 10 s.

    uv run python -m tests.perf.bench_foundation [--tenants 10000 --credentials 100000 --requests 200]

The results table is printed and written to tests/perf/results/foundation.md. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import resource
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

from portal.audit.actor import Actor
from portal.catalog.services import spec_for, sync_builtin_catalog
from portal.config import REPO_ROOT, Settings, load_settings
from portal.credentials.services import TABLE as CREDENTIALS_TABLE
from portal.credentials.services import check_values
from portal.crypto.keyring import MasterKeyring
from portal.crypto.sealing import masked_hint
from portal.crypto.vault import Vault
from portal.db.base import utcnow
from portal.db.engine import create_engine, create_session_factory
from portal.db.migrate import upgrade
from portal.db.models import Credential, Model, Provider, Tenant, TenantModel
from portal.db.session import unit_of_work
from portal.identity.services import create_platform_admin
from tests.perf.seeding import tenant_row
from tests.perf.server import Server, cpu_model
from tests.support.signin import csrf_from

RESULTS_FILE = Path(__file__).with_name("results") / "foundation.md"
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench password " + "x" * 16
API_KEY = "bench-platform-key-" + "x" * 16
SEEDED_BY = "bench-seed@example.com"
PAGE_TARGET_MS = 50.0
ROTATION_TARGET_S = 10.0
ROTATION_LABEL = "Re-wrapping tenant data keys"
# Settings a developer's shell may hold that would change what is measured.
INHERITED_SETTINGS_DROPPED = {
    "REDIS_URL",
    "TENANT_CREDENTIALS_ENABLED",
    "ENCRYPTION_KEY_PREVIOUS",
    "TENANT_CONFIGS",
    "DEFAULT_TENANT_ID",
    "SMTP_URL",
}
ROTATION_SAMPLE = 100  # tenants whose credentials are opened with the new key alone afterwards


# --------------------------------------------------------------------------- seeding


@dataclass
class SeedStats:
    tenants: int = 0
    credentials: int = 0
    tenant_models: int = 0
    crypto_s: float = 0.0  # data keys, validation, sealing
    insert_s: float = 0.0  # executemany and commits
    total_s: float = 0.0


def _field_value(spec_field: Any, provider: str, slug: str) -> str:
    """A valid value for one field of a provider's credential, as a user would type it."""
    if spec_field.secret:
        return f"sk-bench-{secrets.token_urlsafe(24)}"
    if spec_field.kind == "url":
        return f"https://{slug}.{provider}.example.com/v1"
    if spec_field.example:
        return str(spec_field.example)
    raise SystemExit(f"no benchmark value for {provider}.{spec_field.name}: give the field an example")


async def seed(settings: Settings, vault: Vault, tenants: int, credentials: int, chunk: int) -> SeedStats:
    """Tenants with real wrapped data keys, and credentials with real sealed fields, in bulk."""
    stats = SeedStats()
    started = time.perf_counter()
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as db:
            await sync_builtin_catalog(db)
            providers = list(
                await db.scalars(select(Provider).where(Provider.tenant_id.is_(None)).order_by(Provider.name))
            )
            # The same query as tenants.services._enable_builtin_models.
            model_ids = list(
                await db.scalars(select(Model.id).join(Provider).where(Provider.tenant_id.is_(None)))
            )
        per_tenant, extra = divmod(credentials, tenants)
        if per_tenant + (1 if extra else 0) > len(providers):
            raise SystemExit(
                f"{credentials} credentials over {tenants} tenants needs more than the "
                f"{len(providers)} built-in providers per tenant (a credential is unique per provider)"
            )
        specs = {p.id: spec_for(p) for p in providers}
        for first in range(0, tenants, chunk):
            t0 = time.perf_counter()
            tenant_rows: list[dict[str, Any]] = []
            credential_rows: list[dict[str, Any]] = []
            tenant_model_rows: list[dict[str, Any]] = []
            for index in range(first, min(first + chunk, tenants)):
                now = utcnow()
                tenant = tenant_row(index, vault, now)
                tenant_rows.append(tenant)
                tenant_id, slug, wrapped = tenant["id"], tenant["slug"], tenant["wrapped_data_key"]
                tenant_model_rows.extend(
                    {"tenant_id": tenant_id, "model_id": model_id, "enabled_at": now}
                    for model_id in model_ids
                )
                for provider in providers[: per_tenant + (1 if index < extra else 0)]:
                    spec = specs[provider.id]
                    raw = {f.name: _field_value(f, provider.name, slug) for f in spec.fields}
                    checked = check_values(spec, raw, strict=settings.strict_credentials)
                    credential_id = uuid.uuid4()
                    credential_rows.append(
                        {
                            "id": credential_id,
                            "tenant_id": tenant_id,
                            "provider_id": provider.id,
                            "label": spec.display_name,
                            "sealed_fields": vault.seal_fields(
                                wrapped,
                                tenant_id=tenant_id,
                                table=CREDENTIALS_TABLE,
                                row_id=credential_id,
                                values=checked.secrets,
                            ),
                            "config": checked.config,
                            "key_hint": masked_hint(checked.secrets.get("api_key", "")),
                            "set_by": SEEDED_BY,
                            "last_test_at": None,
                            "last_test_ok": None,
                            "last_test_reason": None,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
            t1 = time.perf_counter()
            async with engine.begin() as connection:
                await connection.execute(insert(Tenant.__table__), tenant_rows)
                await connection.execute(insert(TenantModel.__table__), tenant_model_rows)
                if credential_rows:
                    await connection.execute(insert(Credential.__table__), credential_rows)
            t2 = time.perf_counter()
            stats.crypto_s += t1 - t0
            stats.insert_s += t2 - t1
            stats.tenants += len(tenant_rows)
            stats.credentials += len(credential_rows)
            stats.tenant_models += len(tenant_model_rows)
            print(f"  seeded {stats.tenants:>6} tenants, {stats.credentials:>7} credentials", flush=True)
    finally:
        await engine.dispose()
    # Start the measurements from a checkpointed database, not a WAL as large as the seed.
    with sqlite3.connect(settings.database_url.split(":///", 1)[1]) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stats.total_s = time.perf_counter() - started
    return stats


async def create_admin(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as db:
            await create_platform_admin(
                db, Actor.system("bench"), email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="Bench"
            )
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- the server


def sign_in(client: httpx.Client) -> None:
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "_csrf_token": token}
    )
    if response.status_code != 303:
        raise SystemExit(f"sign-in failed: {response.status_code} {response.text[:500]}")


@dataclass
class Timings:
    samples_ms: list[float]
    server_cpu_ms: float | None = None  # the server's CPU time per request, contention aside
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    def percentile(self, p: int) -> float:
        if len(self.samples_ms) < 2:
            return self.samples_ms[0]
        return statistics.quantiles(self.samples_ms, n=100, method="inclusive")[p - 1]


def timed_gets(
    client: httpx.Client,
    server: Server,
    url: str,
    headers: dict[str, str],
    requests: int,
    warmup: int,
) -> tuple[Timings, httpx.Response]:
    for _ in range(warmup):
        client.get(url, headers=headers).raise_for_status()
    samples = []
    response = None
    load_before = os.getloadavg()[0]
    cpu_before = server.cpu_seconds()
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code} {response.text[:500]}")
    cpu_after = server.cpu_seconds()
    assert response is not None
    cpu_ms = (cpu_after - cpu_before) * 1000 / requests if cpu_before is not None and cpu_after else None
    return Timings(samples, cpu_ms, (load_before, os.getloadavg()[0])), response


def check_listing(response: httpx.Response, expected: int) -> list[str]:
    """Every credential listed and opening; returns their masked keys."""
    items = response.json()["credentials"]
    bad = [c["provider"] for c in items if c["encryption_status"] != "encrypted"]
    if len(items) != expected or bad:
        raise SystemExit(
            f"the listing has {len(items)} credentials (expected {expected}); not opening: {bad}"
        )
    return [c["masked_key"] for c in items]


def check_page(response: httpx.Response, masked_keys: list[str]) -> None:
    missing = [k for k in masked_keys if k not in response.text]
    if missing:
        raise SystemExit(f"the credentials page does not show the masked keys {missing}")


# --------------------------------------------------------------------------- rotation


@dataclass
class RotationResult:
    wall_s: float
    core_s: float | None  # from the progress label to the report: without start-up and exit
    startup_s: float | None
    rotated: int
    to_rotate: int
    verified: int
    exit_code: int
    cpu_s: float  # user + system time of the process
    output: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.wall_s:.2f} s (start-up {_seconds(self.startup_s)}, work {_seconds(self.core_s)}, "
            f"CPU {self.cpu_s:.2f} s)"
        )


def portal_command() -> list[str]:
    script = Path(sys.executable).parent / "portal"
    if script.exists():
        return [str(script)]
    return ["uv", "run", "--project", str(REPO_ROOT), "portal"]


def run_rotation(env: dict[str, str]) -> RotationResult:
    lines: list[tuple[float, str, str]] = []
    lock = threading.Lock()

    def pump(stream: Any, name: str) -> None:
        for line in stream:
            with lock:
                lines.append((time.perf_counter(), name, line.rstrip("\n")))

    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*portal_command(), "rotate-master-key"],
        env={**env, "PYTHONUNBUFFERED": "1"},
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    readers = [
        threading.Thread(target=pump, args=(proc.stdout, "out")),
        threading.Thread(target=pump, args=(proc.stderr, "err")),
    ]
    for reader in readers:
        reader.start()
    exit_code = proc.wait()
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    for reader in readers:
        reader.join()
    label_at = next((t for t, _, line in lines if line.startswith(ROTATION_LABEL)), None)
    report_at = next((t for t, _, line in lines if line.startswith("Re-wrapped ")), None)
    text_out = "\n".join(line for _, _, line in lines)
    rewrapped = re.search(r"Re-wrapped (\d+) of (\d+)", text_out)
    verified = re.search(r"Verified (\d+) data keys", text_out)
    return RotationResult(
        wall_s=wall,
        core_s=report_at - label_at if label_at and report_at else None,
        startup_s=label_at - started if label_at else None,
        rotated=int(rewrapped.group(1)) if rewrapped else -1,
        to_rotate=int(rewrapped.group(2)) if rewrapped else -1,
        verified=int(verified.group(1)) if verified else -1,
        exit_code=exit_code,
        cpu_s=usage.ru_utime - usage_before.ru_utime + usage.ru_stime - usage_before.ru_stime,
        output=[f"[{name}] {line}" for _, name, line in lines],
    )


async def check_after_rotation(settings: Settings, new_key: str, sample: int) -> tuple[int, int]:
    """With the new key alone: no tenant left on an old key, and sampled credentials open."""
    vault = Vault(MasterKeyring(new_key))
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as db:
            left = await db.scalar(
                select(func.count())
                .select_from(Tenant)
                .where(Tenant.data_key_wrapped_by != vault.keyring.primary_id)
            )
            tenant_ids = list(await db.scalars(select(Tenant.id)))
            opened = 0
            for tenant_id in random.sample(tenant_ids, min(sample, len(tenant_ids))):
                tenant = await db.get_one(Tenant, tenant_id)
                for credential in await db.scalars(
                    select(Credential).where(Credential.tenant_id == tenant_id)
                ):
                    vault.open_fields(
                        tenant.wrapped_data_key,
                        tenant_id=tenant.id,
                        table=CREDENTIALS_TABLE,
                        row_id=credential.id,
                        sealed=credential.sealed_fields,
                    )
                    opened += 1
            return left or 0, opened
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(
    args: argparse.Namespace,
    seeded: SeedStats,
    db_bytes: int,
    slug: str,
    page: Timings,
    listing: Timings,
    rotation: RotationResult,
    after_rotation: tuple[int, int],
    rerun: RotationResult,
    back: RotationResult,
) -> str:
    rotation_ok = rotation.exit_code == 0 and rotation.wall_s < ROTATION_TARGET_S
    back_ok = back.exit_code == 0 and back.wall_s < ROTATION_TARGET_S
    lines = [
        "# Foundation benchmark",
        "",
        "`uv run python -m tests.perf.bench_foundation "
        f"--tenants {args.tenants} --credentials {args.credentials} --requests {args.requests}`",
        "",
        "| environment | |",
        "| --- | --- |",
        f"| date | {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} |",
        f"| machine (`uname -m`) | {platform.machine()} |",
        f"| CPU | {cpu_model()} |",
        f"| cores | {os.cpu_count()} |",
        f"| Python | {platform.python_version()} ({platform.python_implementation()}) |",
        f"| SQLite | {sqlite3.sqlite_version} (WAL, synchronous=NORMAL) |",
        f"| data | {seeded.tenants:,} tenants, {seeded.credentials:,} credentials, "
        f"{seeded.tenant_models:,} enabled tenant models; database {db_bytes / 2**20:.0f} MiB |",
        "",
        "| measurement | median | p90 | p99 | server CPU per request | target | |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
        f"| credentials page `GET /t/{slug}/credentials` (session) | {page.median:.1f} ms "
        f"| {page.percentile(90):.1f} ms | {page.percentile(99):.1f} ms | {_ms(page.server_cpu_ms)} "
        f"| < {PAGE_TARGET_MS:.0f} ms median | {verdict(page.median < PAGE_TARGET_MS)} |",
        f"| credentials JSON `GET /api/v1/sysadmin/tenants/{slug}/credentials` (X-API-Key) "
        f"| {listing.median:.1f} ms | {listing.percentile(90):.1f} ms | {listing.percentile(99):.1f} ms "
        f"| {_ms(listing.server_cpu_ms)} "
        f"| < {PAGE_TARGET_MS:.0f} ms median | {verdict(listing.median < PAGE_TARGET_MS)} |",
        "",
        "| measurement | time | target | |",
        "| --- | ---: | --- | --- |",
        f"| `portal rotate-master-key`, {rotation.rotated:,} of {rotation.to_rotate:,} tenants re-wrapped, "
        f"{rotation.verified:,} verified, exit {rotation.exit_code} (process wall time) "
        f"| {rotation.wall_s:.2f} s | < {ROTATION_TARGET_S:.0f} s | {verdict(rotation_ok)} |",
        f"| of which start-up (interpreter, imports, settings, pending count) "
        f"| {_seconds(rotation.startup_s)} | | |",
        f"| of which re-wrap, verify and audit (progress label to report) "
        f"| {_seconds(rotation.core_s)} | | |",
        f"| its CPU time (user + system) | {rotation.cpu_s:.2f} s | | |",
        f"| re-run with nothing pending ({rerun.rotated:,} re-wrapped, {rerun.verified:,} verified, "
        f"exit {rerun.exit_code}); bytecode cache on, written by this run | {rerun.summary()} | | |",
        f"| rotating back to the old key ({back.rotated:,} re-wrapped, {back.verified:,} verified, "
        f"exit {back.exit_code}) with that warm bytecode cache | {back.summary()} "
        f"| < {ROTATION_TARGET_S:.0f} s | {verdict(back_ok)} |",
        f"| seeding: data keys, validation and sealing (Vault, one call per credential) "
        f"| {seeded.crypto_s:.1f} s | | |",
        f"| seeding: bulk inserts (executemany, {args.chunk:,} tenants per transaction) "
        f"| {seeded.insert_s:.1f} s | | |",
        f"| seeding total (with catalogue sync and WAL checkpoint) | {seeded.total_s:.1f} s | | |",
        "",
        f"HTTP times are client-observed (httpx, keep-alive, sequential) against uvicorn serving "
        f"`create_app()` in a separate process on 127.0.0.1, access log off, after {args.warmup} warm-up "
        f"requests each; {args.requests} timed requests each. Tenant `{slug}` (in the middle of the set) "
        f"has {seeded.credentials // max(seeded.tenants, 1)} credentials; every one was checked to open. "
        "Server CPU per request is the uvicorn process's user+system time over the timed requests "
        "divided by their number: it is not inflated by other processes competing for the CPU. "
        f"1-minute load average before/after: page {page.load[0]:.2f}/{page.load[1]:.2f}, "
        f"listing {listing.load[0]:.2f}/{listing.load[1]:.2f} (on {os.cpu_count()} cores).",
        "",
        f"After the rotation, with the new key alone: {after_rotation[0]} tenants left on the old key, "
        f"{after_rotation[1]:,} credentials of {min(ROTATION_SAMPLE, seeded.tenants)} sampled tenants "
        f"open. Start-up is measured from the process start to the progress label, work from there to the "
        f"report; {bytecode_note()}. The last two runs use PYTHONPYCACHEPREFIX in the temporary directory "
        "with bytecode writing on, as a deployment with compiled bytecode would start.",
        "",
        "Seeding writes tenants (real wrapped data keys), their enabled built-in models and credentials "
        "(values checked by the credentials service's own validation, secrets sealed by the Vault for "
        "their tenant, table and row) with executemany; it writes no audit events.",
        "",
    ]
    return "\n".join(lines)


def bytecode_note() -> str:
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return (
            "PYTHONDONTWRITEBYTECODE is set here, so no bytecode cache exists and every process "
            "compiles its imports: start-up is slower than on a deployment with cached bytecode"
        )
    return "bytecode caching is on"


def _ms(value: float | None) -> str:
    return f"{value:.1f} ms" if value is not None else "n/a"


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "n/a"


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--credentials", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per endpoint first")
    parser.add_argument("--chunk", type=int, default=2_500, help="tenants per seeding transaction")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="where to write the table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and database")
    args = parser.parse_args(argv)
    if args.tenants < 1 or args.credentials < 0 or args.requests < 1:
        parser.error("--tenants and --requests must be at least 1, --credentials at least 0")
    return args


def bench_env(work: Path, database_url: str, encryption_key: str, previous: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_SETTINGS_DROPPED}
    env.update(
        {
            "PORTAL_VAR_DIR": str(work / "var"),
            "DATABASE_URL": database_url,
            "ENCRYPTION_KEY": encryption_key,
            "SESSION_SECRET": "bench-session-secret-" + "s" * 32,
            "API_KEY_SECRET": "bench-api-key-secret-" + "k" * 32,
            "SUPER_API_KEY": API_KEY,
        }
    )
    if previous:
        env["ENCRYPTION_KEY_PREVIOUS"] = previous
    return env


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    try:
        db_path = work / "bench.db"
        database_url = f"sqlite+aiosqlite:///{db_path}"
        old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
        env = bench_env(work, database_url, old_key)
        settings = load_settings(env)
        vault = Vault(MasterKeyring(settings.encryption_key, settings.encryption_key_previous))

        print(f"Database: {db_path}", flush=True)
        asyncio.run(upgrade(settings))
        print(f"Seeding {args.tenants:,} tenants and {args.credentials:,} credentials...", flush=True)
        seeded = asyncio.run(seed(settings, vault, args.tenants, args.credentials, args.chunk))
        print(
            f"Seeded in {seeded.total_s:.1f} s (crypto {seeded.crypto_s:.1f} s, inserts "
            f"{seeded.insert_s:.1f} s)",
            flush=True,
        )
        asyncio.run(create_admin(settings))
        db_bytes = db_path.stat().st_size

        slug = f"tenant-{args.tenants // 2:05d}"
        expected = args.credentials // args.tenants + (
            1 if args.tenants // 2 < args.credentials % args.tenants else 0
        )
        print(f"Serving and measuring {args.requests} requests per endpoint for {slug}...", flush=True)
        with Server(env, work / "server.log") as server, httpx.Client(base_url=server.base_url) as client:
            sign_in(client)
            page, page_response = timed_gets(
                client, server, f"/t/{slug}/credentials", {}, args.requests, args.warmup
            )
            listing, listing_response = timed_gets(
                client,
                server,
                f"/api/v1/sysadmin/tenants/{slug}/credentials",
                {"X-API-Key": API_KEY},
                args.requests,
                args.warmup,
            )
            check_page(page_response, check_listing(listing_response, expected))
        print(f"  page median {page.median:.1f} ms, listing median {listing.median:.1f} ms", flush=True)

        print("Running portal rotate-master-key...", flush=True)
        rotation = run_rotation(bench_env(work, database_url, new_key, previous=old_key))
        for line in rotation.output:
            print(f"  {line}")
        left, opened = asyncio.run(check_after_rotation(settings, new_key, sample=ROTATION_SAMPLE))
        print(f"  after rotation: {left} tenants left on the old key; {opened} sampled credentials open")

        def cached(env: dict[str, str]) -> dict[str, str]:
            """Bytecode written to and read from a cache in the temporary directory."""
            env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
            return {**env, "PYTHONPYCACHEPREFIX": str(work / "pycache")}

        print("Running it again (nothing pending), then rotating back with a warm bytecode cache...")
        rerun = run_rotation(cached(bench_env(work, database_url, new_key, previous=old_key)))
        back = run_rotation(cached(bench_env(work, database_url, old_key, previous=new_key)))
        for run in (rerun, back):
            print(f"  {run.summary()}: " + " | ".join(run.output))
        rotations_ok = (
            all(r.exit_code == 0 and r.verified == seeded.tenants for r in (rotation, rerun, back))
            and not left
        )
        if not rotations_ok:
            print("A rotation did not verify every tenant", file=sys.stderr)

        table = report(args, seeded, db_bytes, slug, page, listing, rotation, (left, opened), rerun, back)
        print()
        print(table)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table)
        print(f"Written to {args.output}")
        return 0 if rotations_ok else 1
    finally:
        if args.keep:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
