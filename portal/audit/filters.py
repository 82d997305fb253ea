"""The audit filters the pages, the CSV exports and the JSON API all take from the query string."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Annotated, TypeAlias

from litestar.di import NamedDependency, Provide
from litestar.params import Parameter, QueryParameter

from portal.audit import queries
from portal.errors import NotFound
from portal.tenants.deps import CurrentTenant
from portal.tenants.services import find_tenant
from portal.web.deps import Db


@dataclass(frozen=True)
class FilterFields:
    """The audit filters every page, export and JSON listing takes from its query string."""

    action: str
    actor: str
    target: str
    since: str
    until: str

    def for_tenant(self, tenant_id: uuid.UUID | None) -> queries.AuditFilter:
        return queries.make_filter(tenant_id=tenant_id, **asdict(self))


AuditFields: TypeAlias = NamedDependency[FilterFields]
AuditQuery: TypeAlias = NamedDependency[queries.AuditFilter]
"""`audit_filter: AuditQuery`: the filters of the query string, for the tenant or the platform."""


def provide_filter_fields(
    action: str = Parameter(default="", description="Prefix of the action, e.g. invitation."),
    who: Annotated[
        str, QueryParameter(name="actor", description="Part of the actor's or impersonator's e-mail")
    ] = "",
    target: str = Parameter(default="", description="Part of the target"),
    since: str = Parameter(default="", description="From (UTC): 2026-01-31 or 2026-01-31T14:30"),
    until: str = Parameter(default="", description="Until (UTC, exclusive; a date means to its end)"),
) -> FilterFields:
    return FilterFields(action, who, target, since, until)


def provide_tenant_filter(tenant: CurrentTenant, fields: AuditFields) -> queries.AuditFilter:
    """The filters within the tenant the path names."""
    return fields.for_tenant(tenant.id)


async def provide_platform_filter(
    db: Db,
    fields: AuditFields,
    tenant: str = Parameter(default="", description="A tenant's id or slug"),
) -> queries.AuditFilter:
    """The filters, across tenants or for the one named by id or slug."""
    ref, tenant_id, error = tenant.strip(), None, None
    if ref:
        try:
            tenant_id = (await find_tenant(db, ref)).id
        except NotFound:
            try:  # events outlive their tenant: a deleted tenant's id still filters
                tenant_id = uuid.UUID(ref)
            except ValueError:
                tenant_id, error = uuid.UUID(int=0), f"no tenant {ref}"
    f = fields.for_tenant(tenant_id)
    f.raw["tenant"] = ref
    if error:
        f.errors["tenant"] = error
    return f


FIELDS = {"fields": Provide(provide_filter_fields, sync_to_thread=False)}
# `audit_filter`: what a tenant's pages and API read, and what the platform's read.
TENANT_FILTER = {**FIELDS, "audit_filter": Provide(provide_tenant_filter, sync_to_thread=False)}
PLATFORM_FILTER = {**FIELDS, "audit_filter": Provide(provide_platform_filter)}
