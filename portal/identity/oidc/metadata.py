"""OpenID Provider metadata: discovery documents and JWKS, fetched with a short timeout, cached briefly."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from portal.net.egress import EgressRefused

WELL_KNOWN = "/.well-known/openid-configuration"
CACHE_TTL = 300.0  # seconds a discovery document or a JWKS is reused
REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")


class DiscoveryError(Exception):
    """The provider's metadata could not be used; `reason` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    token_endpoint_auth_methods: tuple[str, ...] = ()
    signing_algs: tuple[str, ...] = ()
    code_challenge_methods: tuple[str, ...] = ()
    iss_parameter_supported: bool = False
    scopes_supported: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + WELL_KNOWN


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _http_problem(url: str, exc: httpx.HTTPError, seconds: float) -> str:
    if isinstance(exc, EgressRefused):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"{url} did not answer within {seconds:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect to {url} (is the issuer URL right, and the provider reachable from here?)"
    return f"could not fetch {url}: {type(exc).__name__}"


async def fetch_json(http: httpx.AsyncClient, url: str, *, seconds: float, what: str) -> dict[str, Any]:
    try:
        response = await http.get(url, timeout=seconds, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise DiscoveryError(_http_problem(url, exc, seconds)) from None
    if response.status_code != 200:
        raise DiscoveryError(f"{url} answered HTTP {response.status_code}, not the {what}")
    try:
        body = response.json()
    except ValueError:
        raise DiscoveryError(f"{url} did not answer JSON; is this the provider's {what}?") from None
    if not isinstance(body, dict):
        raise DiscoveryError(f"{url} answered JSON that is not an object")
    return body


def parse_discovery(issuer: str, doc: dict[str, Any]) -> ProviderMetadata:
    # What the document says is never repeated: the URL may have reached something that is not an
    # identity provider, and its answer is not for the person who chose the URL to read.
    if doc.get("issuer") != issuer:
        raise DiscoveryError(
            f"the discovery document's issuer differs from the configured issuer {issuer}; set the "
            "issuer to exactly the provider's own value (check http or https, the path and any "
            "trailing slash)"
        )
    missing = [k for k in REQUIRED if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        raise DiscoveryError(f"the discovery document lacks {', '.join(missing)}")
    response_types = _strings(doc.get("response_types_supported"))
    if response_types and "code" not in response_types:
        raise DiscoveryError("the provider does not offer the authorization code flow (response type code)")
    methods = _strings(doc.get("code_challenge_methods_supported"))
    if methods and "S256" not in methods:
        raise DiscoveryError("the provider does not support PKCE with S256, which the portal requires")

    def optional(key: str) -> str | None:
        value = doc.get(key)
        return value if isinstance(value, str) and value else None

    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        jwks_uri=doc["jwks_uri"],
        userinfo_endpoint=optional("userinfo_endpoint"),
        end_session_endpoint=optional("end_session_endpoint"),
        token_endpoint_auth_methods=_strings(doc.get("token_endpoint_auth_methods_supported")),
        signing_algs=_strings(doc.get("id_token_signing_alg_values_supported")),
        code_challenge_methods=methods,
        iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
        scopes_supported=_strings(doc.get("scopes_supported")),
        raw=doc,
    )


async def fetch_discovery(http: httpx.AsyncClient, issuer: str, *, seconds: float) -> ProviderMetadata:
    """The issuer's discovery document, fetched now and checked (DiscoveryError says what is wrong)."""
    doc = await fetch_json(http, discovery_url(issuer), seconds=seconds, what="OpenID discovery document")
    return parse_discovery(issuer, doc)


class MetadataCache:
    """Discovery documents by issuer and JWKS by URI, in memory, each for `ttl` seconds."""

    def __init__(self, ttl: float = CACHE_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._discovery: dict[str, tuple[float, ProviderMetadata]] = {}
        self._jwks: dict[str, tuple[float, dict[str, Any]]] = {}

    def clear(self) -> None:
        self._discovery.clear()
        self._jwks.clear()

    def _fresh(self, stamp: float) -> bool:
        return self.clock() - stamp < self.ttl

    async def discovery(self, http: httpx.AsyncClient, issuer: str, *, seconds: float) -> ProviderMetadata:
        cached = self._discovery.get(issuer)
        if cached and self._fresh(cached[0]):
            return cached[1]
        metadata = await fetch_discovery(http, issuer, seconds=seconds)
        self._discovery[issuer] = (self.clock(), metadata)
        return metadata

    async def jwks(
        self, http: httpx.AsyncClient, uri: str, *, seconds: float, force: bool = False
    ) -> dict[str, Any]:
        cached = self._jwks.get(uri)
        if cached and not force and self._fresh(cached[0]):
            return cached[1]
        keys = await fetch_json(http, uri, seconds=seconds, what="JSON Web Key Set")
        if not isinstance(keys.get("keys"), list):
            raise DiscoveryError(f"{uri} is not a JSON Web Key Set (no keys list)")
        self._jwks[uri] = (self.clock(), keys)
        return keys


CACHE = MetadataCache()
