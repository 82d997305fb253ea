"""Resolve benchmark: POST /api/v1/resolve against GET /health of the same app, same server, same run.

Seeds a fresh SQLite database with N tenants (real wrapped data keys, the built-in models enabled,
one sealed OpenAI credential each) and M issued API keys (real HMAC hashes, a monthly spend limit
each, so every resolve also checks spend), serves `create_app()` with uvicorn (one worker, access
log off) in a separate process, and drives both endpoints with wrk, 32 connections, in one run:
warm-up, then /health, then resolve, alternating for --rounds rounds.

The resolve requests cycle through --hot-keys keys of as many different tenants (a Lua script
sets each request's Authorization header and JSON body); one resolve per hot key first loads them
into the hot path's memory, as a running portal's services would, then wrk warms both endpoints.
Every resolve answer is checked to be 200 (wrk counts non-2xx answers) and two are checked to
carry the tenant's own credential.

Target (issue 4): resolve at 50 % or more of /health's requests per second, its p99 latency within
twice /health's p99.

    uv run python -m tests.perf.bench_resolve [--tenants 10000 --keys 100000 --duration 15]

The table is printed and written to tests/perf/results/resolve.md. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from portal.catalog.services import sync_builtin_catalog
from portal.config import Settings, load_settings
from portal.credentials.services import TABLE as CREDENTIALS_TABLE
from portal.crypto.issued_keys import new_issued_key
from portal.crypto.keyring import MasterKeyring
from portal.crypto.sealing import masked_hint
from portal.crypto.vault import Vault
from portal.db.base import utcnow
from portal.db.engine import create_engine, create_session_factory
from portal.db.migrate import upgrade
from portal.db.models import ApiKey, Credential, Model, Provider, Tenant, TenantModel
from tests.perf.seeding import tenant_row
from tests.perf.server import Server, cpu_model, scratch_dir, write_results

RESULTS_FILE = Path(__file__).with_name("results") / "resolve.md"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
THROUGHPUT_TARGET = 0.5
P99_TARGET = 2.0
OPENAI_PREFIX = "sk-bench-openai-"


# --------------------------------------------------------------------------- seeding


@dataclass
class Seeded:
    tenants: int
    keys: int
    tenant_models: int
    hot: list[tuple[str, str]]  # (key, the tenant's OpenAI secret) for the hot set
    seconds: float


async def seed(settings: Settings, tenants: int, keys: int, hot: int, chunk: int) -> Seeded:
    started = time.perf_counter()
    vault = Vault(MasterKeyring(settings.encryption_key))
    engine = create_engine(settings)
    keys_per_tenant, extra = divmod(keys, tenants)
    hot_every = max(1, tenants // max(hot, 1))
    hot_keys: list[tuple[str, str]] = []
    tenant_models = 0
    try:
        async with create_session_factory(engine)() as db:
            await sync_builtin_catalog(db)
            openai = await db.scalar(
                select(Provider).where(Provider.name == "openai", Provider.tenant_id.is_(None))
            )
            assert openai is not None
            model_ids = list(
                await db.scalars(select(Model.id).join(Provider).where(Provider.tenant_id.is_(None)))
            )
        sessions = create_session_factory(engine)
        for first in range(0, tenants, chunk):
            now = utcnow()
            tenant_rows: list[dict[str, Any]] = []
            model_rows: list[dict[str, Any]] = []
            credential_rows: list[dict[str, Any]] = []
            key_rows: list[dict[str, Any]] = []
            for index in range(first, min(first + chunk, tenants)):
                tenant = tenant_row(index, vault, now)
                tenant_rows.append(tenant)
                tenant_id, slug, wrapped = tenant["id"], tenant["slug"], tenant["wrapped_data_key"]
                model_rows.extend(
                    {"tenant_id": tenant_id, "model_id": m, "enabled_at": now} for m in model_ids
                )
                secret = OPENAI_PREFIX + secrets.token_urlsafe(24)
                credential_id = uuid.uuid4()
                sealed = vault.seal_fields(
                    wrapped,
                    tenant_id=tenant_id,
                    table=CREDENTIALS_TABLE,
                    row_id=credential_id,
                    values={"api_key": secret},
                )
                credential_rows.append(
                    {
                        "id": credential_id,
                        "tenant_id": tenant_id,
                        "provider_id": openai.id,
                        "label": "Bench",
                        "sealed_fields": sealed,
                        "config": {},
                        "key_hint": masked_hint(secret),
                        "set_by": "bench",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                for number in range(keys_per_tenant + (1 if index < extra else 0)):
                    issued = new_issued_key(slug, settings.api_key_secret)
                    key_id = uuid.uuid4()
                    key_rows.append(
                        {
                            "id": key_id,
                            "tenant_id": tenant_id,
                            "name": f"prod-bench-svc{number}-202611",
                            "key_hash": issued.digest,
                            "prefix": issued.prefix,
                            "last_four": issued.last_four,
                            "scopes": ["resolve", "usage:write"],
                            "allowed_models": [],
                            "limit_micros": 100_000_000,
                            "reset_period": "monthly",
                            "key_metadata": {"env": "bench"},
                            "disabled": False,
                            "lineage_id": key_id,
                            "created_by": "bench",
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                    if number == 0 and index % hot_every == 0 and len(hot_keys) < hot:
                        hot_keys.append((issued.secret, secret))
            async with sessions() as db:
                await db.execute(insert(Tenant), tenant_rows)
                await db.execute(insert(TenantModel), model_rows)
                await db.execute(insert(Credential), credential_rows)
                await db.execute(insert(ApiKey), key_rows)
                await db.commit()
            tenant_models += len(model_rows)
            print(f"  {min(first + chunk, tenants):,} tenants seeded", flush=True)
    finally:
        await engine.dispose()
    return Seeded(tenants, keys, tenant_models, hot_keys, time.perf_counter() - started)


# --------------------------------------------------------------------------- serving


# --------------------------------------------------------------------------- load


LUA = """-- POST /api/v1/resolve, cycling through the hot keys (each wrk thread from its own offset)
local keys = {%(keys)s}
local body = '{"provider": "openai", "model": "gpt-4o"}'
local n = 0
function setup(thread)
  thread:set("offset", math.random(#keys))
end
function init(args)
  n = tonumber(offset) or 0
end
function request()
  n = n + 1
  local key = keys[(n %% #keys) + 1]
  return wrk.format("POST", "/api/v1/resolve",
    {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
"""


@dataclass
class WrkResult:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: str
    server_cpu_s: float
    seconds: float
    load: float = 0.0  # 1-minute load average when it ended

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_s / max(self.requests, 1)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(server: Server, name: str, path: str, args: argparse.Namespace, script: Path | None) -> WrkResult:
    command = [WRK, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    if getattr(args, "timeout", None):
        command.append(f"--timeout={args.timeout}s")
    if script is not None:
        command += ["-s", str(script)]
    command.append(server.base_url + path)
    cpu_before = server.cpu_seconds()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = server.cpu_seconds() - cpu_before

    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        if not match:
            raise SystemExit(f"no {percent}% latency in wrk's output:\n{output}")
        return _ms(match.group(1), match.group(2))

    total = re.search(r"(\d+) requests in ([\d.]+)(s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    if not (total and rps):
        raise SystemExit(f"unexpected wrk output:\n{output}")
    return WrkResult(
        name=name,
        requests=int(total.group(1)),
        rps=float(rps.group(1)),
        p50_ms=latency("50"),
        p90_ms=latency("90"),
        p99_ms=latency("99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=errors.group(1).strip() if errors else "none",
        server_cpu_s=cpu,
        seconds=_ms(total.group(2), total.group(3)) / 1000,
        load=os.getloadavg()[0],
    )


def prewarm(server: Server, keys: list[str]) -> None:
    """One resolve per hot key, so that the measured rounds find them all in memory."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for key in keys:
            response = client.post(
                "/api/v1/resolve",
                json={"provider": "openai", "model": "gpt-4o"},
                headers={"Authorization": f"Bearer {key}"},
            )
            if response.status_code != 200:
                raise SystemExit(f"resolve refused a hot key: {response.status_code} {response.text}")


def check_answer(server: Server, key: str, openai_secret: str) -> None:
    response = httpx.post(
        f"{server.base_url}/api/v1/resolve",
        json={"provider": "openai", "model": "gpt-4o"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    body = response.json()
    if response.status_code != 200 or body.get("secrets", {}).get("api_key") != openai_secret:
        raise SystemExit(
            f"resolve did not answer the tenant's credential: {response.status_code} {response.text}"
        )
    if response.headers.get("cache-control") != "no-store":
        raise SystemExit("resolve answered without Cache-Control: no-store")


# --------------------------------------------------------------------------- report


def wrk_version() -> str:
    result = subprocess.run([WRK, "-v"], capture_output=True, text=True, check=False)
    first = (result.stdout + result.stderr).strip().splitlines()
    return first[0].split(" [")[0] if first else "wrk"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(
    args: argparse.Namespace, seeded: Seeded, db_bytes: int, rounds: list[tuple[WrkResult, WrkResult]]
) -> str:
    health_rps = statistics.median(h.rps for h, _ in rounds)
    resolve_rps = statistics.median(r.rps for _, r in rounds)
    health_p99 = statistics.median(h.p99_ms for h, _ in rounds)
    resolve_p99 = statistics.median(r.p99_ms for _, r in rounds)
    ratio = resolve_rps / health_rps
    p99_ratio = resolve_p99 / health_p99
    round_ratios = [r.rps / h.rps for h, r in rounds]
    round_p99s = [r.p99_ms / h.p99_ms for h, r in rounds]
    lines = [
        "# Resolve benchmark",
        "",
        f"`uv run python -m tests.perf.bench_resolve --tenants {args.tenants} --keys {args.keys} "
        f"--hot-keys {args.hot_keys} --duration {args.duration} --rounds {args.rounds}`",
        "",
        "| environment | |",
        "| --- | --- |",
        f"| date | {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} |",
        f"| machine (`uname -m`) | {platform.machine()}, {cpu_model()}, {os.cpu_count()} cores |",
        f"| Python | {platform.python_version()} ({platform.python_implementation()}) |",
        f"| SQLite | {sqlite3.sqlite_version} (WAL); database {db_bytes / 2**20:.0f} MiB |",
        f"| data | {seeded.tenants:,} tenants, {seeded.keys:,} issued keys, {seeded.tenant_models:,} enabled "
        f"tenant models, {seeded.tenants:,} sealed credentials; seeded in {seeded.seconds:.0f} s |",
        "| server | uvicorn, 1 worker, access log off; `create_app()` as deployed (session, CSRF, principal "
        "middleware) |",
        f"| load | {wrk_version()}, {args.connections} connections, {args.threads} thread(s), "
        f"{args.duration} s per endpoint per round, after {args.warmup} s of warm-up each; "
        f"resolve cycles through {len(seeded.hot):,} keys of as many tenants |",
        "",
        "| round | endpoint | requests/s | p50 | p90 | p99 | non-2xx | server CPU per request | load avg |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for number, pair in enumerate(rounds, start=1):
        for result in pair:
            lines.append(
                f"| {number} | {result.name} | {result.rps:,.0f} | {result.p50_ms:.2f} ms "
                f"| {result.p90_ms:.2f} ms | {result.p99_ms:.2f} ms | {result.non_2xx} "
                f"| {result.cpu_ms_per_request:.3f} ms | {result.load:.2f} |"
            )
    lines += [
        "",
        "| target | result | |",
        "| --- | --- | --- |",
        f"| resolve throughput ≥ {THROUGHPUT_TARGET:.0%} of /health "
        f"| {resolve_rps:,.0f} / {health_rps:,.0f} req/s = {ratio:.0%} "
        f"| {verdict(ratio >= THROUGHPUT_TARGET)} |",
        f"| resolve p99 ≤ {P99_TARGET:g}x /health p99 "
        f"| {resolve_p99:.2f} ms / {health_p99:.2f} ms = {p99_ratio:.2f}x "
        f"| {verdict(p99_ratio <= P99_TARGET)} |",
        "",
        f"Medians over the rounds; round by round, resolve ran at {min(round_ratios):.0%} to "
        f"{max(round_ratios):.0%} of /health's throughput, its p99 at {min(round_p99s):.2f}x to "
        f"{max(round_p99s):.2f}x /health's. Each resolve checks the key's HMAC, its state and scope, "
        "the tenant's status, the model (enabled, allowed), the key's spend against its monthly limit "
        "and opens the sealed credential with AES-GCM (the tenant's data key was unwrapped once, when "
        "the tenant was loaded), all from the hot path's memory: no database round trip once warm. "
        "Both endpoints go through the same middleware and an async guard; neither stores a session. "
        "Server CPU per request is the uvicorn process's user+system time over the measured requests. "
        "Load avg is the machine's 1-minute load average at the end of each measurement "
        f"({os.cpu_count()} cores): other work on the machine shows up in the latency tails.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument(
        "--hot-keys", type=int, default=1_000, help="keys (of distinct tenants) resolve cycles through"
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds per endpoint per round")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per endpoint")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (leave the other core to the server)"
    )
    parser.add_argument("--chunk", type=int, default=1_000, help="tenants per seeding transaction")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and database")
    args = parser.parse_args(argv)
    if args.tenants < 1 or args.keys < args.tenants or args.hot_keys < 1:
        parser.error("--tenants and --hot-keys must be at least 1, --keys at least --tenants")
    return args


def bench_env(work: Path, database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"REDIS_URL", "TENANT_CREDENTIALS_ENABLED", "ENCRYPTION_KEY_PREVIOUS", "OPENAI_API_KEY"}
    }
    env.update(
        {
            "PORTAL_VAR_DIR": str(work / "var"),
            "DATABASE_URL": database_url,
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SESSION_SECRET": "bench-session-secret-" + "s" * 32,
            "API_KEY_SECRET": secrets.token_urlsafe(48),
            "SUPER_API_KEY": "bench-platform-key-" + "x" * 16,
        }
    )
    return env


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(WRK).exists():
        raise SystemExit("wrk is missing: apt-get install -y wrk")

    with scratch_dir("portal-bench-resolve-", args.keep) as work:
        db_path = work / "bench.db"
        env = bench_env(work, f"sqlite+aiosqlite:///{db_path}")
        settings = load_settings(env)
        print(f"Database: {db_path}", flush=True)
        asyncio.run(upgrade(settings))
        print(f"Seeding {args.tenants:,} tenants and {args.keys:,} issued keys...", flush=True)
        seeded = asyncio.run(seed(settings, args.tenants, args.keys, args.hot_keys, args.chunk))
        with sqlite3.connect(db_path) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"Seeded in {seeded.seconds:.0f} s; {len(seeded.hot):,} hot keys", flush=True)
        script = work / "resolve.lua"
        script.write_text(LUA % {"keys": ", ".join(json.dumps(k) for k, _ in seeded.hot)})

        rounds: list[tuple[WrkResult, WrkResult]] = []
        with Server(env, work / "server.log") as server:
            check_answer(server, *seeded.hot[0])
            print(f"Loading the {len(seeded.hot):,} hot keys (one resolve each)...", flush=True)
            prewarm(server, [k for k, _ in seeded.hot])
            warm = argparse.Namespace(**{**vars(args), "duration": args.warmup})
            print("Warming up...", flush=True)
            run_wrk(server, "warm-up", "/health", warm, None)
            warmed = run_wrk(server, "warm-up", "/api/v1/resolve", warm, script)
            if warmed.non_2xx:
                raise SystemExit(f"{warmed.non_2xx} resolve answers were not 2xx during the warm-up")
            for number in range(1, args.rounds + 1):
                health = run_wrk(server, "`GET /health`", "/health", args, None)
                resolve = run_wrk(server, "`POST /api/v1/resolve`", "/api/v1/resolve", args, script)
                print(
                    f"  round {number}: health {health.rps:,.0f} req/s p99 {health.p99_ms:.2f} ms; "
                    f"resolve {resolve.rps:,.0f} req/s p99 {resolve.p99_ms:.2f} ms "
                    f"({resolve.non_2xx} non-2xx)",
                    flush=True,
                )
                if resolve.non_2xx or health.non_2xx:
                    raise SystemExit("some answers were not 2xx: the figures would not be comparable")
                rounds.append((health, resolve))
            check_answer(server, *seeded.hot[-1])
        table = report(args, seeded, db_path.stat().st_size, rounds)
        write_results(table, args.output)
        return 0


if __name__ == "__main__":
    sys.exit(main())
