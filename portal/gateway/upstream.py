"""Where a gateway request goes: the provider's URL, its auth header and query, per provider kind.

- OpenAI-compatible providers (openai, mistral, xai, openrouter, berget, ovhcloud, vllm, custom
  providers): `{base_url}/chat/completions` (or `/embeddings`) with `Authorization: Bearer`.
- anthropic: its OpenAI SDK compatibility, `https://api.anthropic.com/v1/chat/completions`, Bearer.
- gemini: its OpenAI-compatible endpoint, `{base_url}/openai/chat/completions` (base_url ends in
  `/v1beta`), Bearer.
- azure: `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…` with the `api-key`
  header; the deployment is the credential's `deployment_name` (one deployment per credential).

Only these headers go upstream: the caller's own (its Authorization above all) never do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from portal import __version__
from portal.apikeys.entries import OpenCredential, ProviderEntry
from portal.catalog.spec import builtin_specs
from portal.gateway.errors import GatewayError

CHAT = "chat/completions"
EMBEDDINGS = "embeddings"
USER_AGENT = f"llm-portal-gateway/{__version__}"
# Providers that take only the newer name of the output cap (OpenAI's reasoning models refuse
# `max_tokens`); the others are sent `max_tokens`, which every OpenAI-compatible server reads.
COMPLETION_TOKENS_PARAM = {"openai": "max_completion_tokens", "azure": "max_completion_tokens"}


@dataclass(frozen=True, slots=True)
class Upstream:
    url: str
    headers: dict[str, str] = field(repr=False)  # holds the provider's secret
    params: dict[str, str]


def upstream_for(kind: str, credential: OpenCredential, endpoint: str) -> Upstream:
    """The URL, headers and query for a provider of this kind (its catalogue name)."""
    api_key = credential.secrets.get("api_key", "")
    headers = {"content-type": "application/json", "user-agent": USER_AGENT}
    if kind == "azure":
        root = credential.config.get("endpoint", "").rstrip("/")
        deployment = credential.config.get("deployment_name", "")
        version = credential.config.get("api_version", "")
        if not root or not deployment or not version:
            raise GatewayError(
                "upstream_error", "the Azure credential lacks its endpoint, deployment name or API version"
            )
        headers["api-key"] = api_key
        url = f"{root}/openai/deployments/{quote(deployment, safe='')}/{endpoint}"
        return Upstream(url, headers, {"api-version": version})
    base = (credential.base_url or "").rstrip("/")
    if not base:
        raise GatewayError("upstream_error", "the provider has no base URL or endpoint configured")
    if kind == "gemini":
        base += "/openai"
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return Upstream(f"{base}/{endpoint}", headers, {})


def output_cap_param(kind: str) -> str:
    """The body parameter that caps the answer's tokens for this provider."""
    return COMPLETION_TOKENS_PARAM.get(kind, "max_tokens")


def kind_of(provider: ProviderEntry) -> str:
    """A built-in provider's name, or "custom" (a custom provider may be named like a built-in one)."""
    return provider.name if provider.spec is builtin_specs().get(provider.name) else "custom"
