"""JSON API: credentials per provider (sysadmin shape), BYO llm-keys, connection test."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.di import Provide
from litestar.params import JSONBody

from portal.catalog.deps import NAMED_PROVIDER, PathProvider
from portal.catalog.services import find_provider
from portal.credentials import services
from portal.credentials.connection_test import test_credential
from portal.credentials.deps import CREDENTIAL_BY_ID, PROVIDER_CREDENTIAL, WORK, PathCredential, Work
from portal.credentials.schemas import (
    ConnectionTestOut,
    CredentialDeleted,
    CredentialFields,
    CredentialList,
    CredentialSaved,
    LlmKeyCreate,
    LlmKeyOut,
    MaskedCredential,
)
from portal.errors import InvalidInput
from portal.tenants.deps import provide_tenant_by_id
from portal.web.deps import Http
from portal.web.guards import ADMIN, requires_tenant_member
from portal.web.openapi import CHANGE, READ

TENANT = {"tenant": Provide(provide_tenant_by_id), **WORK}


class SysadminCredentialsApi(Controller):
    path = "/api/v1/sysadmin/tenants/{tenant_id:str}/credentials"
    tags = ["credentials"]
    guards = [requires_tenant_member]
    dependencies = TENANT

    @get("/", responses=READ)
    async def list_credentials(self, work: Work) -> CredentialList:
        views = await services.list_credentials(work.db, work.vault, work.tenant)
        return CredentialList([MaskedCredential.of(v) for v in views])

    @put("/{provider:str}", guards=ADMIN, dependencies=NAMED_PROVIDER, responses=CHANGE)
    async def put_credential(
        self, work: Work, named_provider: PathProvider, data: JSONBody[CredentialFields]
    ) -> CredentialSaved:
        view = await services.save_credential(work, named_provider, data.values())
        return CredentialSaved.saved(work.tenant.id, view)

    @delete(
        "/{provider:str}",
        status_code=200,
        guards=ADMIN,
        dependencies=PROVIDER_CREDENTIAL,
        responses=CHANGE,
    )
    async def delete_credential(self, work: Work, credential: PathCredential) -> CredentialDeleted:
        provider = credential.provider.name
        await services.delete_credential(work.db, work.actor, work.tenant, credential)
        return CredentialDeleted.of(work.tenant.id, provider)


class LlmKeysApi(Controller):
    path = "/api/portal/tenants/{tenant_id:str}"
    tags = ["llm-keys"]
    guards = [requires_tenant_member]
    dependencies = TENANT

    @get("/llm-keys", responses=READ)
    async def list_keys(self, work: Work) -> list[LlmKeyOut]:
        return [LlmKeyOut.of(v) for v in await services.list_credentials(work.db, work.vault, work.tenant)]

    @post("/llm-keys", guards=ADMIN, responses=CHANGE)
    async def create_key(self, work: Work, data: JSONBody[LlmKeyCreate]) -> LlmKeyOut:
        if not data.provider.strip():
            raise InvalidInput({"provider": "required: a provider name such as openai or azure"})
        values = data.values()
        values.pop("provider")
        provider = await find_provider(work.db, work.tenant, data.provider)
        return LlmKeyOut.of(await services.save_credential(work, provider, values, create_only=True))

    @delete(
        "/llm-keys/{key_id:str}",
        guards=ADMIN,
        dependencies=CREDENTIAL_BY_ID,
        responses=CHANGE,
    )
    async def delete_key(self, work: Work, credential: PathCredential) -> None:
        await services.delete_credential(work.db, work.actor, work.tenant, credential)

    @post("/credentials/{provider:str}/test", status_code=200, dependencies=NAMED_PROVIDER, responses=CHANGE)
    async def test_connection(
        self, work: Work, http: Http, named_provider: PathProvider
    ) -> ConnectionTestOut:
        result = await test_credential(work, http, named_provider)
        return ConnectionTestOut(ok=result.ok, reason=result.reason)
