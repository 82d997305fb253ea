"""Which credential applies to a provider for a tenant: its own, the shared one, or none."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from portal.catalog.spec import ProviderSpec, builtin_specs
from portal.config import Settings


class CredentialSource(StrEnum):
    TENANT = "tenant"
    SHARED = "shared"
    NONE = "none"


def shared_values(settings: Settings, spec: ProviderSpec) -> dict[str, str] | None:
    """The shared credential from the environment, or None where there is none or strict mode."""
    if settings.strict_credentials or spec.name not in builtin_specs():
        return None
    values = {
        f.name: settings.environ[f.env].strip()
        for f in spec.fields
        if f.env and settings.environ.get(f.env, "").strip()
    }
    if not values or any(f.required and f.name not in values for f in spec.fields):
        return None
    return values


def source_for(settings: Settings, spec: ProviderSpec, has_own: bool) -> CredentialSource:
    if has_own:
        return CredentialSource.TENANT
    return CredentialSource.SHARED if shared_values(settings, spec) else CredentialSource.NONE


def base_url_for(spec: ProviderSpec, environ: Mapping[str, str], fallback: str | None) -> str | None:
    """The provider's base URL: the environment's override, else the catalogue's or the row's."""
    if spec.base_url_env and environ.get(spec.base_url_env, "").strip():
        return environ[spec.base_url_env].strip().rstrip("/")
    return (fallback or spec.base_url or "").rstrip("/") or None
