"""Testing a tenant's identity provider: fetch its discovery document now and say what was found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.config import Settings
from portal.db.base import utcnow
from portal.db.models import Tenant
from portal.errors import InvalidInput
from portal.identity.federation.services import find_idp
from portal.identity.oidc.metadata import DiscoveryError, ProviderMetadata, fetch_discovery
from portal.tenant_configs import url_problem


@dataclass(frozen=True)
class DiscoveryReport:
    ok: bool
    issuer: str
    detail: str
    metadata: ProviderMetadata | None = None
    tested_at: datetime | None = None


def describe(metadata: ProviderMetadata) -> str:
    parts = [f"Found {metadata.issuer}: sign-in at {metadata.authorization_endpoint}"]
    parts.append(f"token endpoint {metadata.token_endpoint}")
    parts.append("user info available" if metadata.userinfo_endpoint else "no user info endpoint")
    parts.append("sign-out supported" if metadata.end_session_endpoint else "no sign-out endpoint")
    if metadata.code_challenge_methods and "S256" in metadata.code_challenge_methods:
        parts.append("PKCE S256 supported")
    return "; ".join(parts) + "."


async def test_discovery(
    db: AsyncSession,
    settings: Settings,
    http: httpx.AsyncClient,
    actor: Actor,
    tenant: Tenant,
    *,
    issuer: str | None = None,
) -> DiscoveryReport:
    """Fetch the issuer's .well-known/openid-configuration (short timeout) and say what was found.

    Without `issuer`, the stored one is tested and the result is kept as last_discovery_*.
    """
    idp = await find_idp(db, tenant)
    candidate = (issuer or "").strip()
    if not candidate:
        if idp is None:
            raise InvalidInput({"issuer": "required: save the settings first, or give an issuer to test"})
        candidate = idp.issuer
    elif problem := url_problem(candidate, what="issuer URL", issuer=True):
        raise InvalidInput({"issuer": problem})
    try:
        metadata = await fetch_discovery(http, candidate, seconds=settings.provider_test_timeout)
    except DiscoveryError as exc:
        report = DiscoveryReport(False, candidate, exc.reason, None, utcnow())
    else:
        report = DiscoveryReport(True, candidate, describe(metadata), metadata, utcnow())
    if idp is not None and candidate == idp.issuer:
        idp.last_discovery_at = report.tested_at
        idp.last_discovery_ok = report.ok
        idp.last_discovery_detail = report.detail[:500]
    await audit.record(
        db,
        actor,
        "federation.discovery_tested",
        tenant_id=tenant.id,
        target=f"identity_provider:{tenant.slug}",
        outcome="success" if report.ok else "failure",
        details={"issuer": candidate, "detail": report.detail[:500]},
    )
    await db.flush()
    return report
