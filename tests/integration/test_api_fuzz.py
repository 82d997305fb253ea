"""Schemathesis over /schema/openapi.json: every JSON operation, fuzzed against a real server.

Each operation gets a bounded, derandomized run of valid (positive) and invalid (negative) requests,
on SQLite and on PostgreSQL. No answer may be a server error, and every answer must conform to the
document: a documented status code, its content type, and its body schema. Path parameters hit seeded
rows part of the time, so handlers get past "not found" as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.config import Settings
from portal.db.migrate import upgrade
from portal.demo.stub_provider import StubProvider
from tests.support.databases import create_pg_database, drop_pg_database
from tests.support.env import API_KEY, make_settings
from tests.support.servers import served_in_thread

# About 1.5 minutes for both databases on a 2-core machine; derandomized, so every run sends the same.
EXAMPLES_PER_MODE = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SERVICE_PATHS = ("/api/v1/resolve", "/api/v1/usage")
GATEWAY_PATHS = ("/v1/chat/completions", "/v1/embeddings", "/v1/models")


@dataclass
class Seeded:
    """Rows the fuzzer may aim at: values per path parameter name."""

    base_url: str
    service_key: str
    inference_key: str = ""
    ids: dict[str, list[str]] = field(default_factory=dict)
    spare_tenant: str = ""


@pytest.fixture(scope="session")
async def fuzz_settings(
    backend: str, tmp_path_factory: pytest.TempPathFactory, stub_provider: StubProvider
) -> AsyncIterator[Settings]:
    """A database of the fuzzer's own: what it creates and deletes touches no other test."""
    if backend == "postgres":
        url = await create_pg_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzzdb') / 'fuzz.db'}"
    settings = make_settings(
        tmp_path_factory.mktemp("fuzzvar"),
        url,
        OPENAI_BASE_URL=f"{stub_provider.url}/v1",
        PROVIDER_TEST_TIMEOUT="1",
    )
    await upgrade(settings)
    yield settings
    if backend == "postgres":
        await drop_pg_database(url)


@pytest.fixture(scope="session")
def fuzz_server(fuzz_settings: Settings) -> Iterator[str]:
    """uvicorn serving the app in a thread (its own event loop), on a loopback port bound first."""
    with served_in_thread(fuzz_settings, "fuzz-uvicorn") as url:
        yield url


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


@pytest.fixture(scope="session")
def seeded(fuzz_server: str) -> Seeded:
    """A tenant with a credential, a custom provider and model, issued keys and an invitation."""
    with httpx.Client(base_url=fuzz_server, headers={"X-API-Key": API_KEY}, timeout=30) as api:
        tenant = _ok(api.post("/api/v1/sysadmin/tenants/", json={"name": "Fuzz", "slug": "fuzz"}))
        spare = _ok(api.post("/api/v1/sysadmin/tenants/", json={"name": "Spare", "slug": "fuzz-spare"}))
        service = _ok(api.post("/api/v1/sysadmin/tenants/", json={"name": "Svc", "slug": "fuzz-svc"}))
        base = f"/api/portal/tenants/{tenant['id']}"
        credential = _ok(api.post(f"{base}/llm-keys", json={"provider": "openai", "api_key": "sk-fuzz-0001"}))
        provider = _ok(
            api.post(
                f"{base}/providers/",
                json={"name": "fuzzprov", "base_url": "https://llm.example.com/v1", "models": ["fz-1"]},
            )
        )
        models = _ok(api.get(f"{base}/providers/{provider['id']}/models"))
        key = _ok(api.post(f"{base}/api-keys", json={"name": "fuzz-key"}))
        invitation = _ok(api.post(f"{base}/invitations", json={"email": "fz@example.com", "role": "member"}))
        svc_base = f"/api/portal/tenants/{service['id']}"
        # A key the stub accepts: the gateway's calls reach it and answer (no 502 from a refused key).
        _ok(
            api.post(
                f"{svc_base}/llm-keys", json={"provider": "openai", "api_key": "sk-valid-provider-key-0001"}
            )
        )
        service_key = _ok(
            api.post(
                f"{svc_base}/api-keys",
                json={"name": "fuzz-service", "scopes": ["resolve", "usage:write", "usage:read"]},
            )
        )
        # The gateway's key: its tenant's OpenAI key reaches the stub (OPENAI_BASE_URL).
        inference_key = _ok(
            api.post(f"{svc_base}/api-keys", json={"name": "fuzz-gateway", "scopes": ["inference"]})
        )
    return Seeded(
        base_url=fuzz_server,
        service_key=service_key["key"],
        inference_key=inference_key["key"],
        spare_tenant=spare["id"],
        ids={
            "tenant_id": [tenant["id"], "fuzz"],
            "provider": ["openai", "fuzzprov"],
            "provider_id": [provider["id"], "openai"],
            "model_id": [m["id"] for m in models][:1],
            "key_id": [key["id"], credential["id"]],
            "invitation_id": [invitation["id"]],
        },
    )


def _auth(path: str, seeded: Seeded) -> dict[str, str]:
    if path in SERVICE_PATHS:
        return {"Authorization": f"Bearer {seeded.service_key}"}
    if path in GATEWAY_PATHS:
        return {"Authorization": f"Bearer {seeded.inference_key}"}
    return {"X-API-Key": API_KEY}


def _aim(case: Any, data: st.DataObject, seeded: Seeded) -> None:
    """Point some path parameters at seeded rows (deleting a tenant only ever hits the spare one)."""
    for name in list(case.path_parameters or {}):
        known = seeded.ids.get(name, [])
        if name == "tenant_id" and case.method == "DELETE" and case.operation.path.endswith("{tenant_id}"):
            known = [seeded.spare_tenant]
        choice = data.draw(st.sampled_from([None, *known]), label=name)
        if choice is not None:
            case.path_parameters[name] = choice


def _fuzz(operation: Any, mode: GenerationMode, seeded: Seeded, failures: list[str]) -> None:
    headers = _auth(operation.path, seeded)

    @hypothesis_settings(
        max_examples=EXAMPLES_PER_MODE,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        _aim(case, data, seeded)
        response = case.call(base_url=seeded.base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # each operation's failure is collected, reported
        failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")


def _order(operation: Any) -> tuple[int, str]:
    # Deleting last leaves the seeded rows in place for the other operations.
    return (operation.method.upper() == "DELETE", operation.label)


def test_every_operation_conforms_and_never_fails(seeded: Seeded) -> None:
    schema = schemathesis.openapi.from_url(f"{seeded.base_url}/schema/openapi.json")
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    assert len(operations) > 40
    failures: list[str] = []
    for operation in operations:
        _fuzz(operation, GenerationMode.POSITIVE, seeded, failures)
        # A path parameter is any string: only a body or query parameters can be made invalid.
        if len(operation.body) or len(operation.query):
            _fuzz(operation, GenerationMode.NEGATIVE, seeded, failures)
    assert not failures, "\n\n".join(failures)
