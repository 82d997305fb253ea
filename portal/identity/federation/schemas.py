"""JSON shapes of /api/v1/sysadmin/tenants/{tenant_id}/federation (every body is in the OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from portal.identity.federation.checks import FederationInput
from portal.identity.federation.discovery import DiscoveryReport
from portal.identity.federation.eneo import EneoFields
from portal.identity.federation.services import FederationView
from portal.inputs import Input
from portal.outputs import copied


class RoleMapping(Input):
    """Who becomes a tenant admin when they join: someone whose `claim` carries one of `admin_values`."""

    claim: Annotated[str, msgspec.Meta(description="ID token or userinfo claim, e.g. groups")]
    admin_values: Annotated[
        list[str], msgspec.Meta(description="values that make an admin, e.g. portal-admins")
    ]


class FederationIn(Input):
    """A tenant's OpenID Connect provider. PUT replaces the settings; leave out client_secret to keep
    the stored one. Eneo's body works too: `discovery_endpoint` in place of `issuer` (the document is
    fetched and checked before anything is saved, and its issuer is used), with `provider`,
    `canonical_public_origin` and `redirect_path`."""

    issuer: Annotated[
        str | None,
        msgspec.Meta(description="Issuer URL, exactly as in its discovery document (or discovery_endpoint)"),
    ] = None
    client_id: str = ""
    client_secret: Annotated[
        str | None, msgspec.Meta(description="Required the first time; sealed, never returned")
    ] = None
    scopes: Annotated[
        str | None, msgspec.Meta(description="Space separated; default 'openid profile email'")
    ] = None
    allowed_domains: Annotated[
        list[str],
        msgspec.Meta(description="E-mail domains routed to this provider and allowed to join by JIT"),
    ] = msgspec.field(default_factory=list)
    role_mapping: RoleMapping | None = None
    jit_provisioning: Annotated[
        bool, msgspec.Meta(description="Let people of the allowed domains join by themselves")
    ] = False
    enabled: bool = True
    redirect_url: Annotated[
        str | None,
        msgspec.Meta(
            description="Only if the provider has another redirect URI than PUBLIC_URL/auth/callback"
        ),
    ] = None
    emails_verified: Annotated[
        bool,
        msgspec.Meta(
            description="Treat the provider's e-mails as verified when it sends no email_verified claim "
            "(Entra ID); off: such e-mails count as unverified"
        ),
    ] = False
    provider: Annotated[
        str | None, msgspec.Meta(description="Eneo's label for the provider, e.g. entra_id; kept if left out")
    ] = None
    discovery_endpoint: Annotated[
        str | None,
        msgspec.Meta(
            description="Eneo's field: the discovery document's URL; fetched and checked (400 when it is "
            "unreachable or lacks issuer, authorization, token or JWKS endpoint), its issuer is used"
        ),
    ] = None
    canonical_public_origin: Annotated[
        str | None, msgspec.Meta(description="Eneo's field: the tenant's public origin (frontend_url)")
    ] = None
    redirect_path: Annotated[
        str | None,
        msgspec.Meta(
            description="Eneo's field: redirect URI = canonical_public_origin (else PUBLIC_URL) + this "
            "path, which must be a sign-in callback the portal serves: /auth/callback or /login/callback"
        ),
    ] = None

    def eneo(self) -> EneoFields:
        return EneoFields(
            self.provider, self.discovery_endpoint, self.canonical_public_origin, self.redirect_path
        )

    def to_input(self) -> FederationInput:
        mapping = self.role_mapping
        return FederationInput(
            issuer=self.issuer or "",
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=self.scopes,
            allowed_domains=self.allowed_domains,
            role_claim=mapping.claim if mapping else "",
            admin_values=mapping.admin_values if mapping else None,
            jit_provisioning=self.jit_provisioning,
            enabled=self.enabled,
            redirect_url=self.redirect_url,
            emails_verified=self.emails_verified,
        )


class FederationOut(msgspec.Struct):
    tenant_id: uuid.UUID
    issuer: str
    client_id: str
    client_secret_hint: str
    secret_status: str
    masked_secret: Annotated[str, msgspec.Meta(description="Eneo's name for client_secret_hint")]
    configured_at: Annotated[datetime, msgspec.Meta(description="Eneo's name for updated_at")]
    encryption_status: Annotated[
        str,
        msgspec.Meta(description="'encrypted': the sealed secret opens; 'undecryptable': see secret_problem"),
    ]
    scopes: str
    allowed_domains: list[str]
    role_mapping: RoleMapping | None
    jit_provisioning: bool
    enabled: bool
    redirect_url: str
    updated_at: datetime
    emails_verified: bool = False
    secret_problem: str | None = None
    frontend_url: str | None = None
    last_discovery_at: datetime | None = None
    last_discovery_ok: bool | None = None
    last_discovery_detail: str | None = None
    provider: Annotated[str | None, msgspec.Meta(description="Eneo's label for the provider")] = None

    @classmethod
    def of(cls, view: FederationView) -> FederationOut:
        mapping = RoleMapping(view.role_claim, view.admin_values) if view.role_claim else None
        return copied(
            cls,
            view,
            client_secret_hint=view.secret_hint,
            masked_secret=view.secret_hint,
            configured_at=view.updated_at,
            role_mapping=mapping,
        )


class FederationDeleted(msgspec.Struct):
    """The answer to DELETE …/federation (Eneo's shape)."""

    tenant_id: uuid.UUID
    message: str


class DiscoveryTestIn(Input):
    """Optional: an issuer to try before saving it; without one the stored issuer is tested."""

    issuer: str | None = None


class DiscoveryOut(msgspec.Struct):
    ok: bool
    issuer: str
    detail: str
    success: Annotated[bool, msgspec.Meta(description="Eneo's name for ok")]
    message: Annotated[str, msgspec.Meta(description="Eneo's name for detail")]
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    jwks_uri: str | None = None
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    scopes_supported: list[str] = msgspec.field(default_factory=list)
    code_challenge_methods_supported: list[str] = msgspec.field(default_factory=list)
    tested_at: datetime | None = None

    @classmethod
    def of(cls, report: DiscoveryReport) -> DiscoveryOut:
        meta = report.metadata
        return cls(
            ok=report.ok,
            issuer=report.issuer,
            detail=report.detail,
            success=report.ok,
            message=report.detail,
            authorization_endpoint=meta.authorization_endpoint if meta else None,
            token_endpoint=meta.token_endpoint if meta else None,
            jwks_uri=meta.jwks_uri if meta else None,
            userinfo_endpoint=meta.userinfo_endpoint if meta else None,
            end_session_endpoint=meta.end_session_endpoint if meta else None,
            scopes_supported=list(meta.scopes_supported) if meta else [],
            code_challenge_methods_supported=list(meta.code_challenge_methods) if meta else [],
            tested_at=report.tested_at,
        )
