"""A tenant's credential named in the path (by its provider, or by its id), or 404; and the `work`
of a use case on the tenant's credentials."""

from __future__ import annotations

from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.actor import Actor
from portal.catalog.deps import NAMED_PROVIDER
from portal.config import Settings
from portal.credentials.services import CredentialWork, credential_for, find_credential
from portal.crypto.vault import Vault
from portal.db.models import Credential, Provider, Tenant
from portal.tenants.deps import load_or_release


async def provide_provider_credential(
    db: AsyncSession, tenant: Tenant, named_provider: Provider
) -> Credential:
    return await load_or_release(db, credential_for(db, tenant, named_provider))


async def provide_credential_by_id(db: AsyncSession, tenant: Tenant, key_id: str) -> Credential:
    return await load_or_release(db, find_credential(db, tenant, key_id))


PROVIDER_CREDENTIAL = {**NAMED_PROVIDER, "credential": Provide(provide_provider_credential)}
CREDENTIAL_BY_ID = {"credential": Provide(provide_credential_by_id)}


def provide_credential_work(
    db: AsyncSession, vault: Vault, settings: Settings, actor: Actor, tenant: Tenant
) -> CredentialWork:
    return CredentialWork(db, vault, settings, actor, tenant)


WORK = {"work": Provide(provide_credential_work, sync_to_thread=False)}
