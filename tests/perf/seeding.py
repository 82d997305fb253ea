"""Rows the benchmarks insert in bulk, bypassing the services for speed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from portal.crypto.vault import Vault


def tenant_row(index: int, vault: Vault, now: datetime) -> dict[str, Any]:
    """The `tenants` row of the index-th seeded tenant (slug `tenant-NNNNN`), with a fresh data key."""
    wrapped, wrapped_by = vault.new_wrapped_data_key()
    return {
        "id": uuid.uuid4(),
        "slug": f"tenant-{index:05d}",
        "name": f"Tenant {index:05d}",
        "status": "active",
        "wrapped_data_key": wrapped,
        "data_key_wrapped_by": wrapped_by,
        "created_at": now,
        "updated_at": now,
    }
