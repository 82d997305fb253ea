"""What the resolve hot path keeps in memory: immutable copies of keys, tenants (with their sealed
credentials) and providers, made from database rows once per load."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from portal.catalog.prices import Prices
from portal.catalog.spec import ProviderSpec, builtin_specs, custom_provider_spec
from portal.crypto.vault import TenantOpener
from portal.db.models import ApiKey, Model, Provider
from portal.outputs import copied


@dataclass(frozen=True, slots=True)
class KeyEntry:
    id: uuid.UUID
    tenant_id: uuid.UUID
    lineage_id: uuid.UUID
    name: str
    prefix: str
    last_four: str
    scopes: frozenset[str]
    allowed_models: frozenset[str]
    limit_micros: int | None
    reset_period: str
    rpm_limit: int | None
    tpm_limit: int | None
    expires_at: datetime | None
    grace_ends_at: datetime | None
    revoked_at: datetime | None
    disabled: bool
    public: dict[str, str]  # what the resolve answer says of the key, made once

    @property
    def label(self) -> str:
        return f"api-key:{self.prefix}…{self.last_four}"

    @classmethod
    def of(cls, row: ApiKey) -> KeyEntry:
        return copied(
            cls,
            row,
            scopes=frozenset(row.scopes),
            allowed_models=frozenset(row.allowed_models),
            public={"id": str(row.id), "name": row.name},
        )


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: uuid.UUID
    name: str
    prices: Prices

    @classmethod
    def of(cls, model: Model) -> ModelEntry:
        return cls(
            id=model.id,
            name=model.name,
            prices=Prices(model.input_price_micros, model.output_price_micros, model.max_output_tokens),
        )


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    id: uuid.UUID
    name: str
    spec: ProviderSpec
    base_url: str | None
    models: dict[str, ModelEntry]  # by model name

    @classmethod
    def of(cls, provider: Provider) -> ProviderEntry:
        spec = (
            builtin_specs()[provider.name]
            if provider.tenant_id is None and provider.name in builtin_specs()
            else custom_provider_spec(provider.name, provider.display_name, provider.base_url)
        )
        return cls(
            id=provider.id,
            name=provider.name,
            spec=spec,
            base_url=provider.base_url,
            models={m.name: ModelEntry.of(m) for m in provider.models},
        )


@dataclass(frozen=True, slots=True)
class CredentialEntry:
    id: uuid.UUID
    sealed_fields: dict[str, str]  # sealed: opened per request, never kept open
    config: dict[str, str]


@dataclass(frozen=True, slots=True)
class TenantEntry:
    id: uuid.UUID
    slug: str
    status: str
    monthly_limit_micros: int | None
    opener: TenantOpener  # the data key, unwrapped once; secrets stay sealed
    custom_providers: dict[str, ProviderEntry]
    enabled_models: frozenset[uuid.UUID]
    credentials: dict[uuid.UUID, CredentialEntry]  # provider id -> credential
    public: dict[str, str]  # what the resolve answer says of the tenant, made once


@dataclass(frozen=True, slots=True)
class Spend:
    micros: int
    limit_micros: int | None
    period_start: datetime
    period_end: datetime | None

    @property
    def exhausted(self) -> bool:
        return self.limit_micros is not None and self.micros >= self.limit_micros


@dataclass(frozen=True, slots=True)
class Target:
    """A model a caller may use, and its provider."""

    provider: ProviderEntry
    model: ModelEntry


@dataclass(frozen=True, slots=True)
class OpenCredential:
    """The effective credential of one request, opened: never stored, never logged."""

    source: str  # "tenant" | "shared"
    secrets: dict[str, str] = field(repr=False)
    config: dict[str, str]
    base_url: str | None

    def __repr__(self) -> str:
        return f"OpenCredential(source={self.source!r}, secrets=<{len(self.secrets)} sealed>)"


@dataclass(frozen=True, slots=True)
class Caller:
    key: KeyEntry
    tenant: TenantEntry


@dataclass
class Stats:
    key_hits: int = 0
    key_loads: int = 0
    tenant_loads: int = 0
    invalidations: int = 0
    redis_messages: int = 0
    polls: int = 0
    extra: dict[str, int] = field(default_factory=dict)
