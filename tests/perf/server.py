"""The benchmarks' server: uvicorn serving create_app() in a child process on a socket bound first,
and facts about the machine for the results tables.

The child runs `python -m tests.perf.server --serve-fd N` with the settings in its environment;
with PORTAL_BENCH_PROFILE=path, SIGUSR1 and SIGUSR2 start and stop cProfile (written to path).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from portal.config import REPO_ROOT, load_settings


def serve_fd(fd: int) -> None:
    """Child process: uvicorn serving create_app(settings from the environment) on an inherited socket."""
    import uvicorn

    from portal.asgi import create_app

    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(create_app(load_settings()), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    profile_to = os.environ.get("PORTAL_BENCH_PROFILE")
    if profile_to:
        _profile_on_signals(profile_to)
    server.run(sockets=[sock])


def _profile_on_signals(path: str) -> None:
    """SIGUSR1 starts cProfile on the event loop's thread (every request), SIGUSR2 stops it and
    writes the profile to `path`: the measured window only, without start-up and warm-up."""
    import cProfile

    # This thread's CPU time, not the wall clock: on a busy machine, time spent descheduled would
    # be charged to whatever function was running.
    profiler = cProfile.Profile(time.thread_time)
    signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())

    def dump(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(path)

    signal.signal(signal.SIGUSR2, dump)


@contextmanager
def scratch_dir(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary directory for one benchmark run: removed at the end unless `keep`."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        if keep:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def write_results(table: str, output: Path) -> None:
    print()
    print(table)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(table)
    print(f"Written to {output}")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Server:
    """Context manager: the portal served in a child process; `base_url` once it answers /health."""

    def __init__(
        self, env: dict[str, str], log_path: Path, *, backlog: int = 1024, start_timeout: float = 120
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.backlog = backlog
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    def __enter__(self) -> Server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(self.backlog)
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.perf.server", "--serve-fd", str(sock.fileno())],
                pass_fds=[sock.fileno()],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        sock.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise SystemExit(
            f"the server did not answer within {self.start_timeout:g} s:\n{self.log_path.read_text()}"
        )

    def cpu_seconds(self) -> float | None:
        try:
            return process_cpu_seconds(self.proc.pid) if self.proc else None
        except (OSError, IndexError, ValueError):
            return None

    def __exit__(self, *_: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="benchmark server child process")
    parser.add_argument("--serve-fd", type=int, required=True)
    serve_fd(parser.parse_args().serve_fd)
