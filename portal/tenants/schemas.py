from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from portal.db.models import Tenant
from portal.inputs import Input


class TenantCreate(Input):
    name: str
    slug: str
    status: str = "active"


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

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(tenant.id, tenant.slug, tenant.name, tenant.status, tenant.created_at, tenant.updated_at)


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


class DeleteForm(msgspec.Struct):
    confirm_slug: str = ""
