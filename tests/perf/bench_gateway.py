"""Gateway benchmark: POST /v1/chat/completions through the portal's gateway, against the same call
sent straight to the upstream stub, and through LiteLLM's proxy, in one run (issue 9 item 8).

- Upstream: nginx (Debian's `nginx-light`) on a loopback port with a config in a temporary
  directory, answering `return 200 '<a fixed chat completion with usage>'`: tens of thousands of
  requests per second, so it is not what is measured.
- (a) direct: the stub itself.
- (b) gateway: `create_app()` under uvicorn (one worker, access log off, tests/perf/server.py), on a
  fresh SQLite database, with a tenant, its own OpenAI key (OPENAI_BASE_URL -> the stub), and an
  issued `inference` key with a spend limit, so each request authenticates, checks rate limits,
  reserves its worst case in the spend ledger, forwards, settles and is metered (a usage event,
  written in batches). Skipped, and said so, while portal/gateway/api.py is not on this branch.
- (c) LiteLLM's proxy, installed by the benchmark into a virtual environment of its own
  (`uv venv` + `uv pip install 'litellm[proxy]'`, kept in ~/.cache/portal-bench for the next run),
  one worker, no database (its Prisma engines cannot be downloaded here), a `model_list` entry whose
  `api_base` is the stub, the master key as the caller's key.

wrk (Debian's `wrk`, a Lua script for the POST body) drives each at 1 and at 32 connections; the
direct and gateway measurements alternate for --rounds rounds (medians reported), LiteLLM's once
per connection count (it is two orders of magnitude slower; more rounds change nothing). nginx and
wrk are installed with apt-get when missing (as root).

Targets: the gateway adds at most 1 ms to the p50 latency at 1 connection; at 32 connections it
serves at least 10 times LiteLLM's requests per second.

    uv run python -m tests.perf.bench_gateway [--duration 10 --rounds 2 --skip-litellm]

The table is printed and written to tests/perf/results/gateway.md. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.perf.bench_resolve import WrkResult, bench_env, run_wrk, verdict, wrk_version
from tests.perf.server import Server, cpu_model, process_cpu_seconds, scratch_dir, write_results

RESULTS_FILE = Path(__file__).with_name("results") / "gateway.md"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "portal-bench"
ADDED_P50_TARGET_MS = 1.0
LITELLM_RATIO_TARGET = 10.0
PROVIDER_KEY = "sk-bench-provider-" + "p" * 24
PROMPT = [{"role": "user", "content": "Say hello in one word"}]
MAX_TOKENS = 16
# What the stub answers, always: OpenAI's shape with usage (9 prompt + 2 completion tokens).
STUB_ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1764633600,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
}
DIRECT, GATEWAY, LITELLM = "(a) stub direct", "(b) portal gateway", "(c) LiteLLM proxy"
LUA = """-- POST a chat completion, the same for every request
wrk.method = "POST"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = %(authorization)s
"""


# --------------------------------------------------------------------------- tools


def ensure_tool(binary: str, package: str) -> str:
    """The binary's path; installed with apt-get when missing (as root), else a clear exit."""
    found = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit(f"{binary} is missing: apt-get install -y {package}")
    print(f"Installing {package} with apt-get...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", package],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    found = shutil.which(binary) or f"/usr/sbin/{binary}"
    if not Path(found).exists():
        raise SystemExit(f"{package} installed, but {binary} is not on PATH")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children (nginx's master and worker)."""
    total = process_cpu_seconds(pid)
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        with suppress(OSError, IndexError, ValueError):
            total += process_cpu_seconds(int(child))
    return total


def wait_until_up(
    proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float, **kwargs: object
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited early:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=1, **kwargs).status_code == 200:  # type: ignore[arg-type]
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout:g} s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Target:
    """What run_wrk needs of a server: its base URL and its CPU time."""

    name: str
    base_url: str
    path: str
    model: str
    authorization: str
    pid: int

    def cpu_seconds(self) -> float | None:
        try:
            return tree_cpu_seconds(self.pid)
        except (OSError, IndexError, ValueError):
            return None

    def script(self, work: Path) -> Path:
        body = json.dumps({"model": self.model, "messages": PROMPT, "max_tokens": MAX_TOKENS})
        path = work / f"{self.name.split()[0].strip('()')}.lua"
        path.write_text(LUA % {"body": json.dumps(body), "authorization": json.dumps(self.authorization)})
        return path

    def check(self) -> None:
        """One request by hand: 200, OpenAI's shape, the stub's usage passed on."""
        response = httpx.post(
            self.base_url + self.path,
            json={"model": self.model, "messages": PROMPT, "max_tokens": MAX_TOKENS},
            headers={"Authorization": self.authorization},
            timeout=60,
        )
        if response.status_code != 200:
            raise SystemExit(f"{self.name} answered {response.status_code}: {response.text[:1000]}")
        usage = response.json().get("usage") or {}
        if usage.get("total_tokens") != STUB_ANSWER["usage"]["total_tokens"]:  # type: ignore[index]
            raise SystemExit(f"{self.name} did not pass the stub's usage on: {response.text[:1000]}")


# --------------------------------------------------------------------------- (a) the nginx stub

NGINX_CONF = """daemon off;
master_process on;
worker_processes 1;
pid %(work)s/nginx.pid;
error_log %(work)s/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %(work)s/nginx-body;
  proxy_temp_path %(work)s/nginx-proxy;
  fastcgi_temp_path %(work)s/nginx-fastcgi;
  uwsgi_temp_path %(work)s/nginx-uwsgi;
  scgi_temp_path %(work)s/nginx-scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:%(port)d;
    location = /v1/chat/completions { default_type application/json; return 200 '%(answer)s'; }
    location = /v1/models { default_type application/json; return 200 '{"object":"list","data":[]}'; }
  }
}
"""


@contextmanager
def nginx_stub(work: Path) -> Iterator[Target]:
    binary = ensure_tool("nginx", "nginx-light")
    port = free_port()
    conf = work / "nginx.conf"
    answer = json.dumps(STUB_ANSWER, separators=(",", ":"))
    conf.write_text(NGINX_CONF % {"work": work, "port": port, "answer": answer})
    log = work / "nginx.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "-p", str(work), "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(proc, url + "/v1/models", log, 15)
        yield Target(DIRECT, url, "/v1/chat/completions", "gpt-4o-mini", f"Bearer {PROVIDER_KEY}", proc.pid)
    finally:
        stop(proc, signal.SIGQUIT)


# --------------------------------------------------------------------------- (b) the portal gateway


def gateway_available() -> bool:
    return importlib.util.find_spec("portal.gateway.api") is not None


@contextmanager
def portal_gateway(work: Path, stub: Target, profile: Path | None = None) -> Iterator[Target]:
    db_path = work / "gateway.db"
    env = bench_env(work, f"sqlite+aiosqlite:///{db_path}")
    env.update({"OPENAI_BASE_URL": stub.base_url + "/v1", "OUTBOUND_ALLOW": "127.0.0.1"})
    if profile is not None:
        env["PORTAL_BENCH_PROFILE"] = str(profile)
    from portal.config import load_settings
    from portal.db.migrate import upgrade

    asyncio.run(upgrade(load_settings(env)))
    with Server(env, work / "gateway-server.log") as server:
        key = seed_tenant(server.base_url, env["SUPER_API_KEY"])
        assert server.proc is not None
        yield Target(
            GATEWAY,
            server.base_url,
            "/v1/chat/completions",
            "openai/gpt-4o-mini",
            f"Bearer {key}",
            server.proc.pid,
        )


def seed_tenant(base_url: str, platform_key: str) -> str:
    """Through the JSON API, as an operator would: a tenant, its own OpenAI key, an issued key."""
    with httpx.Client(base_url=base_url, headers={"X-API-Key": platform_key}, timeout=30) as api:
        tenant = api.post("/api/v1/sysadmin/tenants", json={"name": "Bench", "slug": "bench"})
        tenant.raise_for_status()
        tenant_id = tenant.json()["id"]
        api.put(
            f"/api/v1/sysadmin/tenants/{tenant_id}/credentials/openai", json={"api_key": PROVIDER_KEY}
        ).raise_for_status()
        created = api.post(
            f"/api/portal/tenants/{tenant_id}/api-keys",
            json={"name": "prod-bench-gateway-202612", "scopes": ["inference"], "limit_usd": 1_000_000},
        )
        created.raise_for_status()
        return str(created.json()["key"])


def metered_requests(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        return int(db.execute("SELECT count(*) FROM usage_events WHERE source = 'gateway'").fetchone()[0])


# --------------------------------------------------------------------------- (c) LiteLLM's proxy


def litellm_venv(venv: Path, spec: str) -> Path:
    """The `litellm` command of a virtual environment of its own, installed when missing."""
    command = venv / "bin" / "litellm"
    if command.exists():
        return command
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is needed to install LiteLLM into its own virtual environment: pip install uv")
    print(f"Installing {spec} into {venv} (about 2 minutes)...", flush=True)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run([uv, "venv", "-q", str(venv), "--python", sys.executable], check=True, env=env)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), spec], check=True, env=env
    )
    return command


def litellm_version(venv: Path) -> str:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


LITELLM_CONFIG = """model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: %(api_base)s
      api_key: %(provider_key)s
general_settings:
  master_key: %(master_key)s
litellm_settings:
  telemetry: false
"""


@contextmanager
def litellm_proxy(work: Path, stub: Target, command: Path) -> Iterator[Target]:
    master_key = "sk-bench-master-" + secrets.token_hex(12)
    config = work / "litellm.yaml"
    config.write_text(
        LITELLM_CONFIG
        % {"api_base": stub.base_url + "/v1", "provider_key": PROVIDER_KEY, "master_key": master_key}
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY"}}
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "NO_DOCS": "True"})
    log = work / "litellm.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(command),
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--num_workers",
                "1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=work,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(proc, url + "/health/liveliness", log, 600)  # minutes on a busy machine
        yield Target(LITELLM, url, "/v1/chat/completions", "gpt-4o-mini", f"Bearer {master_key}", proc.pid)
    finally:
        stop(proc)


# --------------------------------------------------------------------------- measuring


@dataclass
class Measured:
    connections: int
    results: dict[str, list[WrkResult]]  # target name -> one result per round
    sent: dict[str, int]  # target name -> requests wrk completed, warm-up included

    def median(self, name: str, attribute: str) -> float | None:
        found = self.results.get(name)
        return statistics.median(getattr(r, attribute) for r in found) if found else None


def measure(
    targets: list[Target], rounds: dict[str, int], args: argparse.Namespace, work: Path
) -> list[Measured]:
    scripts = {t.name: t.script(work) for t in targets}
    measured: list[Measured] = []
    for connections in args.connections:
        settings = argparse.Namespace(
            threads=args.threads, connections=connections, duration=args.duration, timeout=args.timeout
        )
        warm = argparse.Namespace(**{**vars(settings), "duration": args.warmup})
        results: dict[str, list[WrkResult]] = {t.name: [] for t in targets}
        sent = dict.fromkeys(results, 0)
        for target in targets:
            warmed = run_wrk(target, "warm-up", target.path, warm, scripts[target.name])  # type: ignore[arg-type]
            sent[target.name] += warmed.requests
        for number in range(max(rounds.values())):
            for target in targets:
                if number >= rounds[target.name]:
                    continue
                profiling = args.profile is not None and target.name == GATEWAY
                if profiling:
                    os.kill(target.pid, signal.SIGUSR1)
                result = run_wrk(target, target.name, target.path, settings, scripts[target.name])  # type: ignore[arg-type]
                if profiling:
                    os.kill(target.pid, signal.SIGUSR2)
                    time.sleep(1)  # the profile is written by the server's signal handler
                print(
                    f"  {connections:>2} connection(s), round {number + 1}: {target.name}: "
                    f"{result.rps:,.0f} req/s, p50 {result.p50_ms:.3f} ms, p99 {result.p99_ms:.3f} ms, "
                    f"non-2xx {result.non_2xx}, socket errors {result.socket_errors}",
                    flush=True,
                )
                if result.non_2xx:
                    raise SystemExit(f"{target.name}: {result.non_2xx} answers were not 2xx")
                results[target.name].append(result)
                sent[target.name] += result.requests
        measured.append(Measured(connections, results, sent))
    return measured


# --------------------------------------------------------------------------- report


def report(
    args: argparse.Namespace, measured: list[Measured], notes: list[str], versions: dict[str, str]
) -> str:
    cores = f"{os.cpu_count()} cores (`nproc`: {len(os.sched_getaffinity(0))})"
    lines = [
        "# Gateway benchmark",
        "",
        f"`uv run python -m tests.perf.bench_gateway --duration {args.duration} --warmup {args.warmup} "
        f"--rounds {args.rounds}`",
        "",
        "| environment | |",
        "| --- | --- |",
        f"| date | {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} |",
        f"| machine | {platform.machine()}, {cpu_model()}, {cores} |",
        f"| Python | {platform.python_version()}; SQLite {sqlite3.sqlite_version} |",
        f"| upstream stub | {versions['nginx']}, 1 worker, `return 200` with a fixed chat completion "
        "and its usage |",
        "| gateway | uvicorn, 1 worker, access log off, `create_app()` on SQLite; an issued `inference` key "
        "with a spend limit (budget reserved and settled, usage metered) and the tenant's own OpenAI key |",
        f"| LiteLLM | {versions['litellm']}, `litellm --config … --num_workers 1`, no database, master key |",
        f"| load | {versions['wrk']}, {args.threads} thread, {args.duration} s per measurement after "
        f"{args.warmup} s of warm-up; direct and gateway alternate for {args.rounds} round(s) (medians), "
        "LiteLLM measured once |",
        "",
        "| connections | target | requests/s | p50 | p90 | p99 | server CPU per request | load avg |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in measured:
        for name, results in m.results.items():
            if results:
                lines.append(_row(m.connections, name, results))
    lines += ["", "| target | result | |", "| --- | --- | --- |", *_verdicts(measured), "", *notes, ""]
    return "\n".join(lines)


def _row(connections: int, name: str, results: list[WrkResult]) -> str:
    def median(attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in results)

    load = max(r.load for r in results)
    return (
        f"| {connections} | {name} | {median('rps'):,.0f} | {median('p50_ms'):.3f} ms "
        f"| {median('p90_ms'):.3f} ms | {median('p99_ms'):.3f} ms "
        f"| {median('cpu_ms_per_request'):.3f} ms | {load:.2f} |"
    )


def _verdicts(measured: list[Measured]) -> list[str]:
    one = next((m for m in measured if m.connections == 1), None)
    many = next((m for m in measured if m.connections == 32), None)
    added_target = f"added p50 at 1 connection ≤ {ADDED_P50_TARGET_MS:g} ms"
    ratio_target = f"throughput ≥ {LITELLM_RATIO_TARGET:g}x LiteLLM's at 32 connections"
    lines = []
    gateway_p50 = one.median(GATEWAY, "p50_ms") if one else None
    direct_p50 = one.median(DIRECT, "p50_ms") if one else None
    if gateway_p50 is not None and direct_p50 is not None:
        added = gateway_p50 - direct_p50
        lines.append(
            f"| {added_target} | {gateway_p50:.3f} ms - {direct_p50:.3f} ms = {added:.3f} ms "
            f"| {verdict(added <= ADDED_P50_TARGET_MS)} |"
        )
    else:
        lines.append(f"| {added_target} | not measured | |")
    gateway_rps = many.median(GATEWAY, "rps") if many else None
    litellm_rps = many.median(LITELLM, "rps") if many else None
    if gateway_rps is not None and litellm_rps:
        ratio = gateway_rps / litellm_rps
        lines.append(
            f"| {ratio_target} | {gateway_rps:,.0f} / {litellm_rps:,.0f} req/s = {ratio:.1f}x "
            f"| {verdict(ratio >= LITELLM_RATIO_TARGET)} |"
        )
    else:
        lines.append(f"| {ratio_target} | not measured | |")
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument(
        "--warmup", type=int, default=3, help="seconds of warm-up per target and connection count"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of direct and gateway (LiteLLM: one)")
    parser.add_argument("--connections", type=lambda s: [int(c) for c in s.split(",")], default=[1, 32])
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (leave the other core to the server)"
    )
    parser.add_argument("--timeout", type=int, default=30, help="wrk's per-request timeout, seconds")
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument(
        "--profile",
        type=Path,
        help="profile the gateway's measured runs with cProfile (the last run kept), print the top",
    )
    parser.add_argument("--litellm-venv", type=Path, default=CACHE / "litellm-venv")
    parser.add_argument("--litellm-spec", default="litellm[proxy]", help="what `uv pip install` installs")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.rounds < 1 or min(args.connections) < 1:
        parser.error("--duration, --rounds and every --connections value must be at least 1")
    return args


def tool_version(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return (
        (result.stdout + result.stderr).strip().splitlines()[0]
        if (result.stdout + result.stderr).strip()
        else command[0]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_tool("wrk", "wrk")
    notes: list[str] = []
    versions = {
        "nginx": tool_version([ensure_tool("nginx", "nginx-light"), "-v"]).replace("nginx version: ", ""),
        "wrk": wrk_version(),
        "litellm": "not run",
    }
    with scratch_dir("portal-bench-gateway-", args.keep) as work:
        with nginx_stub(work) as stub:
            stub.check()
            targets = [stub]
            rounds = {stub.name: args.rounds}
            with _optional_gateway(work, stub, notes, args.profile) as gateway:
                if gateway is not None:
                    gateway.check()
                    targets.append(gateway)
                    rounds[gateway.name] = args.rounds
                with _optional_litellm(work, stub, args, notes, versions) as litellm:
                    if litellm is not None:
                        litellm.check()
                        targets.append(litellm)
                        rounds[litellm.name] = 1
                    measured = measure(targets, rounds, args, work)
            if gateway is not None:  # the server has stopped: its last usage events are written
                sent = sum(m.sent.get(gateway.name, 0) for m in measured) + 1  # + the check
                metered = metered_requests(work / "gateway.db")
                notes.append(
                    f"Metering was on: the gateway wrote {metered:,} usage events for the {sent:,} requests "
                    "wrk saw answered (warm-ups and the check included; requests still in flight when "
                    "wrk stopped are served and metered too, uncounted by wrk)."
                )
                if metered < sent:
                    raise SystemExit(f"the gateway metered {metered:,} requests of {sent:,}")
        table = report(args, measured, notes, versions)
        write_results(table, args.output)
        return 0


@contextmanager
def _optional_gateway(
    work: Path, stub: Target, notes: list[str], profile: Path | None
) -> Iterator[Target | None]:
    if not gateway_available():
        notes.append("(b) was not measured: portal/gateway/api.py is not on this branch yet.")
        yield None
        return
    with portal_gateway(work, stub, profile) as gateway:
        yield gateway
    if profile is not None and profile.exists():
        print_profile(profile)


def print_profile(path: Path, lines: int = 45) -> None:
    """The gateway's hot spots: own time, then time including callees."""
    import pstats

    print(f"\nProfile of the gateway's event loop ({path}; the figures include cProfile's own cost):")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(lines)


@contextmanager
def _optional_litellm(
    work: Path, stub: Target, args: argparse.Namespace, notes: list[str], versions: dict[str, str]
) -> Iterator[Target | None]:
    if args.skip_litellm:
        notes.append("(c) LiteLLM was skipped (--skip-litellm).")
        yield None
        return
    command = litellm_venv(args.litellm_venv, args.litellm_spec)
    versions["litellm"] = f"LiteLLM {litellm_version(args.litellm_venv)}"
    with litellm_proxy(work, stub, command) as proxy:
        yield proxy


if __name__ == "__main__":
    sys.exit(main())
