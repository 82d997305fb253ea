"""Running the npm `oidc-provider` (a certified OpenID Provider) on loopback for browser tests.

tests/e2e/oidc/provider.mjs starts one provider from a JSON config; `npm ci` in tests/e2e/oidc
installs the pinned package (.ci/run does it).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import IN_CI

OIDC_DIR = Path(__file__).parent / "oidc"
SCRIPT = OIDC_DIR / "provider.mjs"


def need_oidc_provider() -> str:
    """The node binary, once the pinned oidc-provider is installed; skip (fail under CI) otherwise."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "Node.js is not installed (node not found)"
    elif not (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        problem = f"the npm oidc-provider is not installed: run `npm ci` in {OIDC_DIR}"
    if problem:
        if IN_CI:
            pytest.fail(f"{problem}; CI must run the single sign-on browser tests")
        pytest.skip(problem)
    return str(node)


@dataclass
class OidcProvider:
    issuer: str
    process: asyncio.subprocess.Process
    log: Path

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def start_oidc_provider(
    node: str,
    workdir: Path,
    *,
    clients: list[dict[str, Any]],
    accounts: dict[str, dict[str, Any]],
) -> OidcProvider:
    """Start one provider on a free loopback port and wait for the line saying it listens."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.json"
    config.write_text(json.dumps({"port": 0, "clients": clients, "accounts": accounts}))
    log = workdir / "provider.log"
    with log.open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            node, str(SCRIPT), str(config), cwd=OIDC_DIR, stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
    except TimeoutError:
        process.kill()
        pytest.fail(f"oidc-provider did not start within 30 s; see {log}")
    if not line:
        await process.wait()
        pytest.fail(f"oidc-provider exited ({process.returncode}): {log.read_text()[-2000:]}")
    ready = json.loads(line)
    return OidcProvider(issuer=ready["issuer"], process=process, log=log)
