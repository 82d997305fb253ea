"""Eneo's federation body (provider, discovery_endpoint, canonical_public_origin, redirect_path) in the
portal's terms: the discovery document is fetched (through the egress-policied client) and checked
before anything is saved, and its issuer becomes the settings' issuer."""

from __future__ import annotations

from dataclasses import dataclass, replace

import httpx

from portal.config import Settings
from portal.errors import InvalidInput
from portal.identity.federation.checks import FederationInput
from portal.identity.oidc.metadata import DiscoveryError, ProviderMetadata, fetch_json, parse_discovery
from portal.tenant_configs import redirect_url_problem, url_problem

PROVIDER_MAX = 100


@dataclass(frozen=True)
class EneoFields:
    """The fields of Eneo's SetFederationRequest that the portal's own body lacks."""

    provider: str | None = None
    discovery_endpoint: str | None = None
    canonical_public_origin: str | None = None
    redirect_path: str | None = None


@dataclass(frozen=True)
class Submitted:
    data: FederationInput
    frontend_url: str | None  # None: keep the stored one


async def checked_discovery(http: httpx.AsyncClient, settings: Settings, url: str) -> ProviderMetadata:
    """The discovery document at `url`, fetched now; InvalidInput names what is wrong with it."""
    if problem := url_problem(url, what="discovery URL"):
        raise InvalidInput({"discovery_endpoint": problem})
    try:
        doc = await fetch_json(
            http, url, seconds=settings.provider_test_timeout, what="OpenID discovery document"
        )
    except DiscoveryError as exc:
        raise InvalidInput({"discovery_endpoint": f"unreachable: {exc.reason}"}) from None
    issuer = doc.get("issuer")
    if not isinstance(issuer, str) or not issuer.strip():
        raise InvalidInput({"discovery_endpoint": "the discovery document has no issuer"})
    try:
        return parse_discovery(issuer, doc)
    except DiscoveryError as exc:
        raise InvalidInput({"discovery_endpoint": exc.reason}) from None


def _provider_label(raw: str | None) -> str | None:
    label = (raw or "").strip()
    if raw is not None and not label:
        raise InvalidInput({"provider": "a label such as entra_id or okta, or leave the field out"})
    if len(label) > PROVIDER_MAX:
        raise InvalidInput({"provider": f"at most {PROVIDER_MAX} characters"})
    return label or None


def _redirect_url(
    settings: Settings, data: FederationInput, origin: str | None, path: str | None
) -> str | None:
    if path is None:
        return data.redirect_url
    if data.redirect_url:
        raise InvalidInput({"redirect_path": "send redirect_url or redirect_path, not both"})
    path = path.strip()
    if not path.startswith("/"):
        raise InvalidInput({"redirect_path": "must start with /, e.g. /auth/callback"})
    url = (origin or settings.public_url).rstrip("/") + path
    if problem := redirect_url_problem(url):
        raise InvalidInput({"redirect_path": f"{url}: {problem}"})
    return url


async def submitted(
    http: httpx.AsyncClient, settings: Settings, data: FederationInput, eneo: EneoFields
) -> Submitted:
    """The portal's input with Eneo's fields applied (the discovery document checked first)."""
    provider = _provider_label(eneo.provider)
    origin = (eneo.canonical_public_origin or "").strip() or None
    if origin and (problem := url_problem(origin, what="origin")):
        raise InvalidInput({"canonical_public_origin": problem})
    redirect_url = _redirect_url(settings, data, origin, eneo.redirect_path)
    issuer = data.issuer
    if eneo.discovery_endpoint is not None:
        metadata = await checked_discovery(http, settings, eneo.discovery_endpoint.strip())
        if issuer and issuer.strip() != metadata.issuer:
            found = f"the document's issuer {metadata.issuer} differs from issuer {issuer}"
            raise InvalidInput({"discovery_endpoint": found})
        issuer = metadata.issuer
    changed = replace(data, issuer=issuer, redirect_url=redirect_url, provider=provider)
    return Submitted(changed, origin)
