from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from portal.credentials.services import CredentialView
from portal.inputs import Input
from portal.outputs import copied


class CredentialFields(Input):
    """A provider's fields; which ones apply depends on the provider (see GET …/providers)."""

    api_key: str | None = None
    endpoint: str | None = None
    api_version: str | None = None
    deployment_name: str | None = None
    label: str | None = None

    def values(self) -> dict[str, Any]:
        return {k: v for k, v in msgspec.structs.asdict(self).items() if v is not None}


class LlmKeyCreate(CredentialFields, forbid_unknown_fields=True):
    provider: str = ""


class MaskedCredential(msgspec.Struct):
    provider: str
    label: str
    masked_key: str
    configured_at: datetime
    encryption_status: Annotated[
        str,
        msgspec.Meta(
            description="'encrypted': sealed and it opens; 'undecryptable': it does not open "
            "(undecryptable_reason says why)"
        ),
    ]
    config: dict[str, str]
    undecryptable_reason: str | None = None
    last_test_at: datetime | None = None
    last_test_ok: bool | None = None
    last_test_reason: str | None = None

    @classmethod
    def of(cls, view: CredentialView) -> MaskedCredential:
        return copied(cls, view)


class CredentialSaved(MaskedCredential, kw_only=True):
    """The answer to PUT …/credentials/{provider}: the masked credential, plus Eneo's fields."""

    tenant_id: uuid.UUID
    message: str
    set_at: datetime

    @classmethod
    def saved(cls, tenant_id: uuid.UUID, view: CredentialView) -> CredentialSaved:
        masked = MaskedCredential.of(view)
        return cls(
            **msgspec.structs.asdict(masked),
            tenant_id=tenant_id,
            message=f"API credential for {view.provider} set successfully",
            set_at=view.configured_at,
        )


class CredentialDeleted(msgspec.Struct):
    """The answer to DELETE …/credentials/{provider} (Eneo's shape)."""

    tenant_id: uuid.UUID
    provider: str
    message: str

    @classmethod
    def of(cls, tenant_id: uuid.UUID, provider: str) -> CredentialDeleted:
        return cls(tenant_id, provider, f"API credential for {provider} deleted successfully")


class CredentialList(msgspec.Struct):
    credentials: list[MaskedCredential]


class LlmKeyOut(msgspec.Struct):
    id: uuid.UUID
    provider: str
    label: str
    key_hint: str
    created_at: datetime
    updated_at: datetime
    encryption_status: str
    config: dict[str, str]
    undecryptable_reason: str | None = None

    @classmethod
    def of(cls, view: CredentialView) -> LlmKeyOut:
        return copied(cls, view, key_hint=view.masked_key, updated_at=view.configured_at)


class ConnectionTestOut(msgspec.Struct, omit_defaults=True):
    ok: bool
    reason: str | None = None
