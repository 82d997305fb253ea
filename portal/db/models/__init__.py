"""Every table, imported here so metadata is complete for Alembic and the app."""

from portal.db.models.apikeys import ApiKey, ApiKeyPlan, UsageEvent
from portal.db.models.audit import AuditEvent
from portal.db.models.budgets import SpendLedger, SpendReservation
from portal.db.models.catalog import CatalogRemoval, Model, Provider, TenantModel
from portal.db.models.credentials import Credential
from portal.db.models.identity import Identity, IdentityProvider, Invitation, Membership, Role
from portal.db.models.tenants import Tenant
from portal.db.models.users import User

__all__ = [
    "ApiKey",
    "ApiKeyPlan",
    "AuditEvent",
    "CatalogRemoval",
    "Credential",
    "Identity",
    "IdentityProvider",
    "Invitation",
    "Membership",
    "Model",
    "Provider",
    "Role",
    "SpendLedger",
    "SpendReservation",
    "Tenant",
    "TenantModel",
    "UsageEvent",
    "User",
]
