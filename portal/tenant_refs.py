"""How a path or header names a tenant: one rule for every guard and loader.

A reference that parses as a UUID is a tenant id and nothing else; any other is a slug. Slugs
that parse as a UUID are refused, so no tenant can be reached under another tenant's id.
Standard library only, beside portal.config: the start-time check of TENANT_CONFIGS uses it too.
"""

from __future__ import annotations

import uuid

# The request scope key where a tenant guard leaves the id of the tenant the path names (None: none).
RESOLVED_TENANT_ID = "portal_tenant_id"
UUID_SLUG_PROBLEM = (
    "must not have the form of a UUID (tenants are also addressed by their id), e.g. acme-corp"
)


def as_tenant_id(ref: str) -> uuid.UUID | None:
    """The tenant id a reference names, or None when it names a slug."""
    try:
        return uuid.UUID(ref.strip())
    except ValueError:
        return None


def looks_like_uuid(slug: str) -> bool:
    return as_tenant_id(slug) is not None
