"""The effective credential of a tenant for a provider: the one rule, used by resolve, the connection
test, the catalogue listing (and the gateway).

The tenant's own credential when it has one; else the shared one from the environment, only in
shared mode (and only for built-in providers); never the shared one in strict mode; else none."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from portal.catalog.spec import ProviderSpec, builtin_specs
from portal.config import Settings

C = TypeVar("C")


class CredentialSource(StrEnum):
    TENANT = "tenant"
    SHARED = "shared"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Effective(Generic[C]):
    """Which credential applies: `own` (whatever form the caller keeps it in) or `shared` values."""

    source: CredentialSource
    own: C | None = None
    shared: dict[str, str] | None = None


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


def effective_credential(settings: Settings, spec: ProviderSpec, own: C | None) -> Effective[C]:
    """The tenant's own credential if it has one, else the shared one where allowed, else none.
    The environment is read only when the tenant has no credential of its own."""
    if own is not None:
        return Effective(CredentialSource.TENANT, own)
    shared = shared_values(settings, spec)
    if shared is not None:
        return Effective(CredentialSource.SHARED, shared=shared)
    return Effective(CredentialSource.NONE)
