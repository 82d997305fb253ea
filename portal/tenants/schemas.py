from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec

from portal.apikeys.money import micros_to_usd
from portal.db.models import Tenant
from portal.errors import InvalidInput
from portal.inputs import Input


@dataclass(frozen=True)
class NewTenant:
    name: str
    slug: str | None
    status: str
    slug_from: str | None


class TenantCreate(Input):
    """A new tenant. Eneo's body works too: `name` alone (the slug is derived from it and made
    unique), with `display_name` (then the tenant's name) and `state` (as `status`)."""

    name: str
    slug: Annotated[
        str | None,
        msgspec.Meta(
            description="Without one, derived from the name and made unique (acme-corp, acme-corp-2…)"
        ),
    ] = None
    status: str | None = None
    display_name: Annotated[
        str | None, msgspec.Meta(description="Eneo's field: the name shown; `name` then gives the slug")
    ] = None
    state: Annotated[str | None, msgspec.Meta(description="Eneo's field: the same as `status`")] = None

    def new_tenant(self) -> NewTenant:
        """What to create; 400 when `state` and `status` disagree."""
        if self.state is not None and self.status is not None and self.state != self.status:
            raise InvalidInput({"state": f"differs from status {self.status!r}: send one of them"})
        display = (self.display_name or "").strip()
        return NewTenant(
            name=display or self.name,
            slug=self.slug,
            status=self.status or self.state or "active",
            slug_from=self.name if display else None,
        )


class TenantUpdate(Input):
    name: str | None = None
    slug: str | None = None
    status: str | None = None


class TenantOut(msgspec.Struct):
    id: uuid.UUID
    slug: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    monthly_limit_usd: float | None = None

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(
            tenant.id,
            tenant.slug,
            tenant.name,
            tenant.status,
            tenant.created_at,
            tenant.updated_at,
            micros_to_usd(tenant.monthly_limit_micros),
        )


class TenantList(msgspec.Struct):
    tenants: list[TenantOut]
    total: int
    page: int
    per_page: int


class TenantForm(msgspec.Struct):
    """The new-tenant and settings forms (HTML)."""

    name: str = ""
    slug: str = ""


class StatusForm(msgspec.Struct):
    status: str = ""


class LimitForm(msgspec.Struct):
    monthly_limit_usd: str = ""


class MonthlyLimitIn(Input):
    monthly_limit_usd: Annotated[
        float | str | None,
        msgspec.Meta(description="USD per calendar month (UTC) for the whole tenant; null: no limit"),
    ]


class DeleteForm(msgspec.Struct):
    confirm_slug: str = ""
