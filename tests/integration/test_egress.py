"""Server-side request forgery: tenant-chosen URLs reach only what the egress policy allows.

The apps here are built WITHOUT the tests' usual OUTBOUND_ALLOW=127.0.0.1,::1, so loopback (where
the stubs listen) counts as internal, as it does in production. `narrow` allows one host name,
localhost, to show what an allowed host's answers may still not lead to.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpcore
import httpx
import pytest
from litestar import Litestar

from portal.config import Settings
from portal.db.migrate import upgrade
from portal.demo.identity_provider import DemoIdentityProvider
from portal.demo.stub_provider import StubProvider
from portal.net import egress
from portal.net.egress import EgressBackend, EgressRefused, EgressTransport
from tests.support.api import credentials_url, new_tenant, portal_url
from tests.support.apps import client_for, running_app
from tests.support.env import API_KEY, CANARY, make_settings, sqlite_url
from tests.support.sso import USERS, federation_url, person, sso_sign_in, sso_tenant

FIX = "add it to OUTBOUND_ALLOW"


async def egress_settings(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Settings:
    """A database of the module's own (its tests make their own tenants: no test reads another's)."""
    var = tmp_path_factory.mktemp("egress")
    settings = make_settings(var, sqlite_url(var), **env)
    await upgrade(settings)
    return settings


@pytest.fixture(scope="module")
async def strict_app(tmp_path_factory) -> AsyncIterator[Litestar]:
    """An app whose OUTBOUND_ALLOW is empty (the production default)."""
    async with running_app(await egress_settings(tmp_path_factory, OUTBOUND_ALLOW="")) as app:
        yield app


@pytest.fixture
async def strict(strict_app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(strict_app, headers={"X-API-Key": API_KEY}) as client:
        yield client


@pytest.fixture(scope="module")
async def narrow_app(tmp_path_factory) -> AsyncIterator[Litestar]:
    """An app that may reach the host name localhost (whatever it resolves to), nothing else internal."""
    async with running_app(await egress_settings(tmp_path_factory, OUTBOUND_ALLOW="localhost")) as app:
        yield app


@pytest.fixture
async def narrow(narrow_app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(narrow_app, headers={"X-API-Key": API_KEY}) as client:
        yield client


@pytest.fixture
def stub() -> Iterator[StubProvider]:
    """A provider of this test's own that accepts the canary and records every request; it closes
    each connection (HTTP/1.0), so every request connects, and is checked, anew."""
    provider = StubProvider({CANARY}, keep_alive=False).start()
    yield provider
    provider.stop()


@pytest.fixture
def local_idp() -> Iterator[DemoIdentityProvider]:
    """The demo OpenID Provider, bound to 127.0.0.1 but named http://localhost:PORT."""
    with DemoIdentityProvider(USERS, host="localhost") as provider:
        yield provider


def assert_refused(text: str, rule: str) -> None:
    assert rule in text, text
    assert FIX in text, text
    assert CANARY not in text


# --- connection tests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "rule"),
    [
        ("{stub}/v1", "loopback address"),
        ("http://localhost:{port}/v1", "loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/v1", "loopback address in IPv6 form"),
        ("http://169.254.169.254/latest/meta-data", "link-local address"),
        ("http://10.0.0.1:8000/v1", "private address"),
        ("http://100.100.100.200/v1", "carrier-grade NAT"),
    ],
)
async def test_connection_test_refuses_an_internal_vllm_endpoint(strict, stub, endpoint, rule):
    tenant = await new_tenant(strict, name="SSRF")
    port = stub.url.rsplit(":", 1)[1]
    fields = {"api_key": CANARY, "endpoint": endpoint.format(stub=stub.url, port=port)}
    assert (await strict.put(credentials_url(tenant, "vllm"), json=fields)).status_code == 200
    response = await strict.post(portal_url(tenant, "/credentials/vllm/test"))
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is False
    assert_refused(response.json()["reason"], rule)
    assert stub.requests == []  # nothing reached it: no secret sent, no status code learnt
    listed = await strict.get(credentials_url(tenant))
    assert_refused(listed.json()["credentials"][0]["last_test_reason"], rule)


async def test_connection_test_refuses_an_internal_custom_provider(strict, stub):
    tenant = await new_tenant(strict, name="SSRF custom")
    created = await strict.post(
        portal_url(tenant, "/providers"),
        json={"name": "inside", "base_url": f"{stub.url}/v1", "api_key": CANARY},
    )
    assert created.status_code == 201, created.text
    response = await strict.post(portal_url(tenant, "/credentials/inside/test"))
    assert response.json()["ok"] is False
    assert_refused(response.json()["reason"], "loopback address")
    assert stub.requests == []


# --- OIDC discovery ------------------------------------------------------------------------------


async def test_discovery_test_refuses_an_issuer_on_loopback(strict, local_idp):
    tenant = await new_tenant(strict, name="SSRF issuer")
    issuer = local_idp.issuer.replace("localhost", "127.0.0.1")
    response = await strict.post(f"{federation_url(tenant['id'])}/test", json={"issuer": issuer})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False
    assert_refused(body["detail"], "loopback address")
    assert local_idp.requests == []


async def test_sign_in_through_an_issuer_on_loopback_is_refused_with_a_page(strict, strict_app, local_idp):
    tenant = await sso_tenant(strict, local_idp)  # issuer http://localhost:PORT, not allowed here
    async with client_for(strict_app) as browser:
        response = await browser.get(f"/t/{tenant.slug}/login")
    assert response.status_code == 502, response.text
    assert_refused(response.text, "loopback address")
    assert local_idp.requests == []


async def test_discovery_test_does_not_echo_a_differing_issuer(narrow, local_idp, monkeypatch):
    """A fetched document's text never comes back: only that it differs, and what was expected."""
    canary = "internal-text-" + CANARY
    monkeypatch.setattr(local_idp, "metadata", lambda: {"issuer": canary, "token_endpoint": canary})
    tenant = await new_tenant(narrow, name="Echo")
    response = await narrow.post(f"{federation_url(tenant['id'])}/test", json={"issuer": local_idp.issuer})
    body = response.json()
    assert body["ok"] is False
    assert local_idp.issuer in body["detail"]
    assert "differs" in body["detail"]
    assert "internal-text" not in response.text
    assert local_idp.requests == [("GET", "/.well-known/openid-configuration")]


def _pointing_at_loopback(idp: DemoIdentityProvider, endpoint: str) -> Any:
    honest = idp.metadata
    elsewhere = idp.issuer.replace("localhost", "127.0.0.1")

    def metadata() -> dict[str, Any]:
        path = endpoint.removesuffix("_endpoint").removesuffix("_uri")
        return {**honest(), endpoint: f"{elsewhere}/{path}"}

    return metadata


@pytest.mark.parametrize(
    ("endpoint", "path", "method"),
    [
        ("token_endpoint", "/token", "POST"),
        ("jwks_uri", "/jwks", "GET"),
        ("userinfo_endpoint", "/userinfo", "GET"),
    ],
)
async def test_a_discovery_document_cannot_send_the_portal_to_a_refused_address(
    narrow, narrow_app, local_idp, monkeypatch, endpoint, path, method
):
    """The issuer's host is allowed (localhost); an endpoint it names on 127.0.0.1 is not."""
    monkeypatch.setattr(local_idp, "metadata", _pointing_at_loopback(local_idp, endpoint))
    local_idp.misbehaviour.add("email_only_in_userinfo")  # so that the portal needs userinfo
    egress_cache_clear()
    tenant = await sso_tenant(narrow, local_idp)
    someone = person(local_idp)
    async with client_for(narrow_app) as browser:
        response = await sso_sign_in(browser, local_idp, tenant.slug, someone.subject)
    assert response.status_code == 502, response.text
    assert_refused(response.text, "loopback address")
    assert "127.0.0.1" in response.text
    assert (method, path) not in local_idp.requests  # the portal never went there (same server)


def egress_cache_clear() -> None:
    from portal.identity.oidc.metadata import CACHE

    CACHE.clear()


# --- the transport itself: redirects, DNS rebinding, TLS for the host name ----------------------


@contextmanager
def redirector(location: str) -> Iterator[str]:
    """A server on 127.0.0.1 answering every GET with a redirect to `location`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("location", location)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("target", ["{stub}/v1/models", "http://169.254.169.254/latest/meta-data/"])
async def test_a_redirect_from_an_allowed_host_to_a_refused_address_is_refused(stub, target):
    allow, _ = egress.parse_outbound_allow("localhost")
    with redirector(target.format(stub=stub.url)) as allowed_url:
        async with egress.egress_client(allow) as client:
            first = await client.get(allowed_url)  # the allowed host itself answers
            assert first.status_code == 302
            with pytest.raises(EgressRefused) as info:
                await client.get(allowed_url, follow_redirects=True)
    assert FIX in str(info.value)
    assert stub.requests == []


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """The real network, recording where each connection went."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.connected: list[tuple[str, int]] = []

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append((host, port))
        return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AssertionError("not used")

    async def sleep(self, seconds):
        await self.inner.sleep(seconds)


async def test_the_connection_goes_to_the_address_that_was_checked(stub, monkeypatch):
    """DNS rebinding: each connection resolves the name once and connects to the address it checked;
    when the name later answers cloud metadata, that answer is checked too, never used unchecked."""
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    lookups: list[str] = []

    async def rebinding_resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    monkeypatch.setattr(egress, "resolve", rebinding_resolver)
    recorder = RecordingBackend()
    allow, _ = egress.parse_outbound_allow("127.0.0.1")
    port = int(stub.url.rsplit(":", 1)[1])
    url = f"http://rebind.example:{port}/v1/models"
    transport = EgressTransport(allow, backend=EgressBackend(allow, inner=recorder))
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        response = await client.get(url, headers={"authorization": f"Bearer {CANARY}"})
        assert response.status_code == 200
        assert recorder.connected == [("127.0.0.1", port)]  # the checked address, not a new lookup
        assert [r["host"] for r in stub.requests] == [f"rebind.example:{port}"]  # Host kept
        # The stub closes each connection (HTTP/1.0), so the next request connects anew.
        with pytest.raises(EgressRefused, match="link-local"):
            await client.get(url)
    assert lookups == ["rebind.example", "rebind.example"]
    assert recorder.connected == [("127.0.0.1", port)]
    assert len(stub.requests) == 1


def _self_signed(name: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


@contextmanager
def tls_server(cert: bytes, key: bytes, tmp_path) -> Iterator[tuple[int, list[str]]]:
    """An HTTPS server on 127.0.0.1 recording the SNI name each handshake asked for."""
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    names: list[str] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name or "")  # type: ignore[assignment,misc]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], names
    finally:
        server.shutdown()
        server.server_close()


async def test_tls_is_verified_for_the_host_name_not_the_address(monkeypatch, tmp_path):
    cert, key = _self_signed("portal-test.example")

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    monkeypatch.setattr(egress, "resolve", resolver)
    allow, _ = egress.parse_outbound_allow("127.0.0.1")
    trusted = ssl.create_default_context(cadata=cert.decode())
    with tls_server(cert, key, tmp_path) as (port, names):
        transport = EgressTransport(allow, verify=trusted)
        async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
            response = await client.get(f"https://portal-test.example:{port}/")
            assert response.status_code == 204
            assert names == ["portal-test.example"]
            with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|IP address mismatch"):
                await client.get(f"https://127.0.0.1:{port}/")  # the address is not the name
