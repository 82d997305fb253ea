"""Kept so imports from other branches keep working: these helpers live in tests.support (api, rows,
servers)."""

from tests.support.api import (
    AZURE_API_VERSION,
    TENANTS,
    azure_fields,
    credentials_url,
    new_tenant,
    portal_url,
)
from tests.support.env import unique_slug
from tests.support.rows import audit_rows, credential_rows, set_sealed_fields
from tests.support.servers import closed_port, silent_server

__all__ = [
    "AZURE_API_VERSION",
    "TENANTS",
    "audit_rows",
    "azure_fields",
    "closed_port",
    "credential_rows",
    "credentials_url",
    "new_tenant",
    "portal_url",
    "set_sealed_fields",
    "silent_server",
    "unique_slug",
]
