"""Eneo's clients keep working: requests as eneo-ai/eneo's own tests of its sysadmin API send them
(tests/integration/credentials/test_tenant_credentials_e2e.py, the federation router's tests), with
the super API key in X-API-Key, answered in Eneo's shapes beside the portal's own fields."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from portal.demo.identity_provider import DemoIdentityProvider
from tests.support.api import TENANTS, new_tenant
from tests.support.env import API_KEY
from tests.support.servers import closed_port
from tests.support.sso import USERS, federation_url

HEADERS = {"X-API-Key": API_KEY}  # Eneo's tests: headers={"X-API-Key": super_admin_token}
SECRET = "eneo-federation-secret-7f3a"


@pytest.fixture(scope="session")
def idp() -> Iterator[DemoIdentityProvider]:
    with DemoIdentityProvider(USERS, title="Eneo compatibility provider") as provider:
        yield provider


@pytest.fixture(scope="session")
def documents() -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    """A local server answering the JSON set per path (discovery documents with parts missing)."""
    served: dict[str, dict[str, Any]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(served.get(self.path, {})).encode()
            self.send_response(200 if self.path in served else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


async def test_credentials_set_list_delete_as_eneo(api):
    tenant_id = (await new_tenant(api, name="Eneo credentials"))["id"]
    base = f"{TENANTS}/{tenant_id}/credentials"
    test_key = "sk-tenant-test-key-abc123"
    response = await api.put(f"{base}/openai", json={"api_key": test_key}, headers=HEADERS)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["provider"] == "openai" and data["masked_key"].endswith("123")
    assert "api_key" not in data and test_key not in response.text
    assert data["tenant_id"] == tenant_id
    assert data["message"] == "API credential for openai set successfully"
    assert data["set_at"] and data["encryption_status"] == "encrypted"

    azure = {
        "api_key": "azure-key-sweden-456def",
        "endpoint": "https://sweden.openai.azure.com/",
        "api_version": "2024-02-15-preview",
        "deployment_name": "gpt-4-sweden",
    }
    response = await api.put(f"{base}/azure", json=azure, headers=HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["masked_key"].endswith("6def")

    listed = await api.get(base, headers=HEADERS)
    assert listed.status_code == 200
    creds = {c["provider"]: c for c in listed.json()["credentials"]}
    assert set(creds) == {"openai", "azure"}
    for cred in creds.values():
        assert {"provider", "masked_key", "configured_at", "encryption_status", "config"} <= set(cred)
        assert cred["encryption_status"] == "encrypted" and "api_key" not in cred
    assert creds["azure"]["config"]["endpoint"] == "https://sweden.openai.azure.com/"
    assert creds["azure"]["config"]["api_version"] == "2024-02-15-preview"
    assert creds["azure"]["config"]["deployment_name"] == "gpt-4-sweden"

    deleted = await api.delete(f"{base}/azure", headers=HEADERS)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {
        "tenant_id": tenant_id,
        "provider": "azure",
        "message": "API credential for azure deleted successfully",
    }
    assert [c["provider"] for c in (await api.get(base, headers=HEADERS)).json()["credentials"]] == ["openai"]
    assert (await api.delete(f"{base}/azure", headers=HEADERS)).status_code == 404


async def test_tenant_from_a_name_alone_gets_a_unique_slug(api):
    name = f"Acme Corp {uuid.uuid4().hex[:6]}"
    first = await api.post(TENANTS, json={"name": name}, headers=HEADERS)
    second = await api.post(TENANTS, json={"name": name}, headers=HEADERS)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    slug = name.lower().replace(" ", "-")
    assert first.json()["slug"] == slug and second.json()["slug"] == f"{slug}-2"
    assert first.json()["name"] == name and first.json()["status"] == "active"


async def test_tenant_with_display_name_and_state(api):
    name = f"malmo-{uuid.uuid4().hex[:6]}"
    response = await api.post(
        TENANTS, json={"name": name, "display_name": "Malmö stad", "state": "suspended"}, headers=HEADERS
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["slug"], body["name"], body["status"]) == (name, "Malmö stad", "suspended")
    clash = await api.post(TENANTS, json={"name": "X y", "state": "active", "status": "suspended"})
    assert clash.status_code == 400 and "state" in clash.json()["errors"]


async def test_a_uuid_shaped_name_never_makes_a_uuid_slug(api):
    name = str(uuid.uuid4())
    response = await api.post(TENANTS, json={"name": name}, headers=HEADERS)
    assert response.status_code == 201, response.text
    slug = response.json()["slug"]
    assert slug == f"tenant-{name}"
    with pytest.raises(ValueError):
        uuid.UUID(slug)


def eneo_federation(discovery_endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "entra_id",
        "discovery_endpoint": discovery_endpoint,
        "client_id": "eneo-client",
        "client_secret": SECRET,
        "allowed_domains": ["stockholm.se"],
        **extra,
    }


async def test_federation_set_get_test_delete_as_eneo(api, idp):
    tenant_id = (await new_tenant(api, name="Eneo federation"))["id"]
    url = federation_url(tenant_id)
    discovery = f"{idp.issuer}/.well-known/openid-configuration"
    body = eneo_federation(
        discovery, canonical_public_origin="https://stockholm.eneo.example", redirect_path="/auth/callback"
    )
    response = await api.put(url, json=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["provider"] == "entra_id" and out["issuer"] == idp.issuer
    assert out["masked_secret"] == "..." + SECRET[-4:] and SECRET not in response.text
    assert out["redirect_url"] == "https://stockholm.eneo.example/auth/callback"
    assert out["frontend_url"] == "https://stockholm.eneo.example"

    got = await api.get(url, headers=HEADERS)
    assert got.status_code == 200
    info = got.json()
    assert info["provider"] == "entra_id" and info["client_id"] == "eneo-client"
    assert info["masked_secret"] == "..." + SECRET[-4:] and info["issuer"] == idp.issuer
    assert info["allowed_domains"] == ["stockholm.se"]
    assert info["configured_at"] and info["encryption_status"] == "encrypted"

    tested = await api.post(f"{url}/test", headers=HEADERS)
    assert tested.status_code == 200, tested.text
    report = tested.json()
    assert report["success"] is True and report["issuer"] == idp.issuer and report["message"]
    assert report["ok"] is True and report["detail"] == report["message"]

    deleted = await api.delete(url, headers=HEADERS)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"tenant_id": tenant_id, "message": "Federation config deleted successfully"}
    assert (await api.get(url, headers=HEADERS)).status_code == 404


@pytest.mark.parametrize(
    ("missing", "words"),
    [
        ("issuer", "no issuer"),
        ("authorization_endpoint", "authorization_endpoint"),
        ("token_endpoint", "token_endpoint"),
        ("jwks_uri", "jwks_uri"),
    ],
)
async def test_a_discovery_document_lacking_a_part_is_400_and_saves_nothing(
    api, idp, documents, missing, words
):
    base, served = documents
    doc = {k: v for k, v in idp.metadata().items() if k != missing}
    served[f"/{missing}/.well-known/openid-configuration"] = doc
    tenant_id = (await new_tenant(api, name="Eneo bad discovery"))["id"]
    url = federation_url(tenant_id)
    response = await api.put(
        url, json=eneo_federation(f"{base}/{missing}/.well-known/openid-configuration"), headers=HEADERS
    )
    assert response.status_code == 400, response.text
    assert words in response.json()["errors"]["discovery_endpoint"]
    assert (await api.get(url, headers=HEADERS)).status_code == 404


async def test_an_unreachable_discovery_endpoint_is_400_and_saves_nothing(api):
    tenant_id = (await new_tenant(api, name="Eneo unreachable"))["id"]
    url = federation_url(tenant_id)
    endpoint = f"http://127.0.0.1:{closed_port()}/.well-known/openid-configuration"
    response = await api.put(url, json=eneo_federation(endpoint), headers=HEADERS)
    assert response.status_code == 400, response.text
    assert response.json()["errors"]["discovery_endpoint"].startswith("unreachable")
    assert (await api.get(url, headers=HEADERS)).status_code == 404


async def test_eneos_default_callback_path_is_served_too(api, anon, idp):
    """Eneo's default redirect_path, /login/callback, is accepted and answered by the same callback."""
    tenant_id = (await new_tenant(api, name="Eneo callback"))["id"]
    discovery = f"{idp.issuer}/.well-known/openid-configuration"
    body = eneo_federation(discovery, redirect_path="/login/callback")
    response = await api.put(federation_url(tenant_id), json=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["redirect_url"].endswith("/login/callback")
    # The same handler: an answer that belongs to no sign-in of this browser is refused there too.
    refused = await anon.get("/login/callback", params={"state": "nobody-started-this", "code": "x"})
    assert refused.status_code == 400 and "does not belong to a sign-in" in refused.text
    other = await api.put(
        federation_url(tenant_id), json={**body, "redirect_path": "/elsewhere"}, headers=HEADERS
    )
    assert other.status_code == 400 and "redirect_path" in other.json()["errors"]
