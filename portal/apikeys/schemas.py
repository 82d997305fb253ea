"""JSON shapes of the API-key and service APIs. A key's secret appears only in `ApiKeyCreated.key`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from portal.apikeys.money import micros_to_usd
from portal.apikeys.plans import PlanView
from portal.apikeys.rules import KeyView
from portal.inputs import Input
from portal.outputs import copied

RPM = "Gateway requests per minute (a positive whole number); null: no limit"
TPM = "Gateway tokens per minute, input and output (a positive whole number); null: no limit"


class ApiKeyCreate(Input):
    name: str
    scopes: list[str] | None = None
    allowed_models: list[str] = msgspec.field(default_factory=list)
    limit_usd: float | str | None = None
    reset_period: str | None = None
    plan: str | None = None
    expires_at: datetime | None = None
    expires_in: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    disabled: bool = False
    rpm_limit: Annotated[int | None, msgspec.Meta(description=RPM)] = None
    tpm_limit: Annotated[int | None, msgspec.Meta(description=TPM)] = None

    def terms(self) -> dict[str, Any]:
        """The new key's terms, as `services.create_key` takes them (each field is one of them)."""
        return msgspec.structs.asdict(self)


class ApiKeyUpdate(Input, omit_defaults=True):
    """Only the fields present change; `null` clears `limit_usd`, `expires_at`, `rpm_limit` and
    `tpm_limit`."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    scopes: list[str] | msgspec.UnsetType = msgspec.UNSET
    allowed_models: list[str] | msgspec.UnsetType = msgspec.UNSET
    limit_usd: float | str | msgspec.UnsetType | None = msgspec.UNSET
    reset_period: str | msgspec.UnsetType = msgspec.UNSET
    expires_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    expires_in: str | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    disabled: bool | msgspec.UnsetType = msgspec.UNSET
    rpm_limit: Annotated[int | None, msgspec.Meta(description=RPM)] | msgspec.UnsetType = msgspec.UNSET
    tpm_limit: Annotated[int | None, msgspec.Meta(description=TPM)] | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in self.__struct_fields__
            if getattr(self, name) is not msgspec.UNSET
        }


class RotateIn(Input):
    grace: str = "24h"


class IncreaseLimitIn(Input):
    amount_usd: float | str


class RevokeOlderIn(Input):
    older_than: str


class ApiKeyOut(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    prefix: str
    last_four: str
    display: str
    state: str
    scopes: list[str]
    allowed_models: list[str]
    limit_usd: float | None
    reset_period: str
    plan: str | None
    rpm_limit: int | None
    tpm_limit: int | None
    spent_usd: float
    period_start: datetime
    period_end: datetime | None
    expires_at: datetime | None
    metadata: dict[str, Any]
    disabled: bool
    revoked_at: datetime | None
    grace_ends_at: datetime | None
    rotated_from_id: uuid.UUID | None
    replaced_by_id: uuid.UUID | None
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, view: KeyView) -> ApiKeyOut:
        key = view.key
        return copied(
            cls,
            key,
            display=view.display,
            state=view.state,
            scopes=list(key.scopes),
            allowed_models=list(key.allowed_models),
            limit_usd=micros_to_usd(key.limit_micros),
            spent_usd=view.spent_micros / 1e6,
            period_start=view.period_start,
            period_end=view.period_end,
            metadata=dict(key.key_metadata),
        )


class ApiKeyCreated(ApiKeyOut):
    """The new key: `key` is its secret, shown this once and never again."""

    key: str = ""


class PlanOut(msgspec.Struct):
    name: str
    limit_usd: float
    reset_period: str
    edited: bool

    @classmethod
    def of(cls, plan: PlanView) -> PlanOut:
        return cls(plan.name, plan.limit_micros / 1e6, plan.reset_period, plan.edited)


class PlanIn(Input):
    limit_usd: float | str
    reset_period: str = "monthly"


class ResolveIn(Input):
    provider: str
    model: str


class UsageIn(Input):
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | str = 0
