"""A tenant's credential named in the path (by its provider, or by its id), or 404; and the `work`
of a use case on the tenant's credentials."""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from portal.catalog.deps import NAMED_PROVIDER, PathProvider
from portal.credentials.services import CredentialWork, credential_for, find_credential
from portal.db.models import Credential
from portal.tenants.deps import CurrentTenant, load_or_release
from portal.web.deps import CurrentActor, CurrentSettings, Db, TheVault

PathCredential: TypeAlias = NamedDependency[Credential]
Work: TypeAlias = NamedDependency[CredentialWork]
"""`work: Work`: a use case on the path's tenant's credentials, by the request's actor."""


async def provide_provider_credential(
    db: Db, tenant: CurrentTenant, named_provider: PathProvider
) -> Credential:
    return await load_or_release(db, credential_for(db, tenant, named_provider))


async def provide_credential_by_id(db: Db, tenant: CurrentTenant, key_id: FromPath[str]) -> Credential:
    return await load_or_release(db, find_credential(db, tenant, key_id))


PROVIDER_CREDENTIAL = {**NAMED_PROVIDER, "credential": Provide(provide_provider_credential)}
CREDENTIAL_BY_ID = {"credential": Provide(provide_credential_by_id)}


def provide_credential_work(
    db: Db, vault: TheVault, settings: CurrentSettings, actor: CurrentActor, tenant: CurrentTenant
) -> CredentialWork:
    return CredentialWork(db, vault, settings, actor, tenant)


WORK = {"work": Provide(provide_credential_work, sync_to_thread=False)}
