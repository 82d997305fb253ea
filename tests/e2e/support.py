"""Kept so imports from other branches keep working: the browser helpers are tests.support.browser."""

from tests.support.browser import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CHROMIUM,
    CHROMIUM_ARGS,
    LOOPBACK_HOSTS,
    PROVIDER_KEY,
    SCREENSHOTS,
    migrated_with_admin,
    new_context,
    only_loopback,
    sign_in,
    snap,
    tenant_with_openai_key,
)

__all__ = [
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "LOOPBACK_HOSTS",
    "PROVIDER_KEY",
    "SCREENSHOTS",
    "migrated_with_admin",
    "new_context",
    "only_loopback",
    "sign_in",
    "snap",
    "tenant_with_openai_key",
]
