"""The provider catalogue as shipped (YAML) and the field rules of each provider's credential."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from portal.catalog.prices import UNPRICED, Prices, max_output_tokens, price_to_micros

if TYPE_CHECKING:
    from portal.db.models import Provider

CATALOG_FILE = Path(__file__).with_name("builtin_providers.yaml")
SECRET_MIN, SECRET_MAX = 8, 4096
TEXT_MAX = 300
URL_MAX = 500


@dataclass(frozen=True)
class FieldSpec:
    name: str
    secret: bool = False
    required: bool = True
    strict_required: bool = False
    kind: str = "text"  # text | url
    https_only: bool = False
    pattern: str | None = None
    env: str | None = None
    example: str | None = None

    @property
    def label(self) -> str:
        return {"api_key": "API key", "api_version": "API version"}.get(
            self.name, self.name.replace("_", " ").capitalize()
        )

    def is_required(self, strict: bool) -> bool:
        return self.required or (strict and self.strict_required)


@dataclass(frozen=True)
class TestSpec:
    path: str = "/models"
    auth: str = "bearer"  # bearer | x-api-key | api-key | x-goog-api-key
    base: str = "base_url"  # base_url | endpoint
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """A built-in model and its list prices (micro-USD per million tokens; see portal.catalog.prices)."""

    name: str
    prices: Prices = UNPRICED


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    display_name: str
    fields: tuple[FieldSpec, ...]
    test: TestSpec
    base_url: str | None = None
    base_url_env: str | None = None
    models: tuple[ModelSpec, ...] = ()

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    @property
    def secret_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.secret)

    @property
    def config_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if not f.secret)

    def field_named(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


def custom_provider_spec(name: str, display_name: str, base_url: str | None) -> ProviderSpec:
    """Custom providers speak the OpenAI API at their base_url with one API key."""
    return ProviderSpec(
        name=name,
        display_name=display_name,
        base_url=base_url,
        fields=(FieldSpec(name="api_key", secret=True, required=True),),
        test=TestSpec(),
    )


def spec_for(provider: Provider) -> ProviderSpec:
    """The spec of a stored provider: the shipped one for a built-in, else a custom provider's."""
    if provider.is_builtin and provider.name in builtin_specs():
        return builtin_specs()[provider.name]
    return custom_provider_spec(provider.name, provider.display_name, provider.base_url)


def _provider_from_yaml(raw: dict[str, Any]) -> ProviderSpec:
    return ProviderSpec(
        name=raw["name"],
        display_name=raw["display_name"],
        base_url=raw.get("base_url"),
        base_url_env=raw.get("base_url_env"),
        fields=tuple(FieldSpec(**f) for f in raw["fields"]),
        test=TestSpec(**raw.get("test", {})),
        models=tuple(model_from_yaml(raw["name"], m) for m in raw.get("models") or []),
    )


class CatalogError(ValueError):
    """The shipped catalogue is malformed: the message names the provider, the model and the field."""


MODEL_KEYS = frozenset({"name", "input", "output", "max_output"})


def model_from_yaml(provider: str, raw: object) -> ModelSpec:
    """A `models:` entry: a bare name (not priced) or {name, input, output, max_output}, the prices
    in USD per million tokens (both or neither), max_output a positive whole number of tokens."""
    if isinstance(raw, str):
        return ModelSpec(raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise CatalogError(f"{provider}: a model is a name or a mapping with a name, not {raw!r}")
    where = f"{provider}/{raw['name']}"
    unknown = set(raw) - MODEL_KEYS
    if unknown:
        allowed = ", ".join(sorted(MODEL_KEYS))
        raise CatalogError(f"{where}: unknown field {sorted(unknown)[0]!r}; use {allowed}")
    if ("input" in raw) != ("output" in raw):
        raise CatalogError(f"{where}: give both input and output prices, or neither")
    try:
        input_micros = price_to_micros(raw["input"]) if "input" in raw else None
        output_micros = price_to_micros(raw["output"]) if "output" in raw else None
        max_output = max_output_tokens(raw.get("max_output"))
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from exc
    return ModelSpec(raw["name"], Prices(input_micros, output_micros, max_output))


@cache
def builtin_specs() -> dict[str, ProviderSpec]:
    raw = yaml.safe_load(CATALOG_FILE.read_text())
    return {p["name"]: _provider_from_yaml(p) for p in raw["providers"]}


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: str, *, https_only: bool = False) -> str | None:
    """The problem with a URL, or None. http is allowed only where https_only is off or on loopback."""
    if len(value) > URL_MAX:
        return f"at most {URL_MAX} characters"
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"}:
        return "must start with https:// (or http:// for a local server)"
    if not parts.hostname:
        return "must include a host name, e.g. https://example.openai.azure.com"
    if parts.username or parts.password:
        return "must not contain a user name or password"
    if parts.query or parts.fragment:
        return "must not contain a query string or fragment"
    if https_only and parts.scheme != "https" and not is_loopback_host(parts.hostname):
        return "must use https://"
    return None


def check_field(spec: FieldSpec, value: str) -> str | None:
    """The problem with one trimmed, non-empty value, or None."""
    if spec.secret:
        if len(value) < SECRET_MIN:
            return f"too short: at least {SECRET_MIN} characters"
        if len(value) > SECRET_MAX:
            return f"too long: at most {SECRET_MAX} characters"
        if any(c.isspace() for c in value):
            return "must not contain spaces or line breaks"
        return None
    if spec.kind == "url":
        return check_url(value, https_only=spec.https_only)
    if len(value) > TEXT_MAX:
        return f"at most {TEXT_MAX} characters"
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        return f"not in the expected form, e.g. {spec.example}" if spec.example else "invalid"
    return None
