"""The `portal` command as a real process, as operators run it: one runner for every such test.

Each process imports the whole app (about 2 s of Python); with bytecode switched off in the
environment (PYTHONDONTWRITEBYTECODE, as CI and uv set it) every one of them also compiles every
module again, several seconds more. The runner writes bytecode to a directory of its own, shared
by every process of the test run (PYTHONPYCACHEPREFIX, a temporary directory), so only the first
compiles."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PYCACHE = Path(tempfile.mkdtemp(prefix="portal-tests-pycache-"))
atexit.register(shutil.rmtree, PYCACHE, True)
TIMEOUT_S = 120


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus `env`, with bytecode written to the shared cache."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**environment, "PYTHONPYCACHEPREFIX": str(PYCACHE), **env}


def portal_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "portal.cli", *args]


def run_portal(*args: str, env: Mapping[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`portal ARGS…` run to its end; its exit status and both streams, as text."""
    return subprocess.run(
        portal_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        env=process_env(env),
        timeout=TIMEOUT_S,
        check=False,
    )


def start_portal(*args: str, env: Mapping[str, str], **options: Any) -> subprocess.Popen[str]:
    """`portal ARGS…` started (a server); its standard output and error together, as text."""
    return subprocess.Popen(
        portal_command(*args),
        env=process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **options,
    )
