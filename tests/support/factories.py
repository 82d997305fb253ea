"""Test data with sensible defaults, made through the services (so the rules and the audit trail
are those of the real use cases), each call one committed unit of work.

    make = Factory.of_app(app)              # or the `make` fixture; Factory.on(settings) elsewhere
    tenant = await make.tenant()            # unique slug, active, built-in models enabled
    admin = await make.member(tenant, role="admin")
    key, secret = await make.issued_key(tenant, limit_usd="5", reset_period="monthly")
    await make.usage(key, cost="0.25")

Rows come back detached but loaded (the session factories do not expire on commit). The JSON API
twin of `tenant` and `issued_key` is tests.support.api (new_tenant, create_key): use it where the
API is under test, these where the data is only the stage.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.apikeys import services as apikeys
from portal.audit.actor import Actor
from portal.catalog.services import find_provider
from portal.config import Settings
from portal.credentials.services import CredentialView, CredentialWork, save_credential
from portal.crypto.vault import Vault
from portal.db.base import utcnow
from portal.db.models import ApiKey, Identity, Membership, Tenant, UsageEvent, User
from portal.db.session import database, unit_of_work
from portal.identity.services import create_platform_admin
from portal.members import invitations
from portal.tenants.services import create_tenant
from portal.usage.services import UsageReport, record_usage
from tests.support.env import unique_email, unique_slug
from tests.support.signin import PASSWORD

SYSTEM = Actor.system("test")
# A tenant as a row, as the API's JSON (its "id"), or its id.
TenantRef = Tenant | Mapping[str, Any] | str | uuid.UUID


def tenant_id_of(tenant: TenantRef) -> uuid.UUID:
    if isinstance(tenant, Tenant):
        return tenant.id
    if isinstance(tenant, Mapping):
        tenant = tenant["id"]
    return tenant if isinstance(tenant, uuid.UUID) else uuid.UUID(str(tenant))


async def _tenant(db: AsyncSession, tenant: TenantRef) -> Tenant:
    row = await db.get(Tenant, tenant_id_of(tenant))
    assert row is not None, f"no tenant {tenant!r}"
    return row


def token_of(link: str) -> str:
    """The token at the end of an invitation link."""
    return link.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Factory:
    sessions: async_sessionmaker[AsyncSession]
    vault: Vault
    settings: Settings
    actor: Actor = SYSTEM

    @classmethod
    def of_app(cls, app: Litestar) -> Factory:
        state = app.state.portal
        return cls(state.sessions, state.vault, state.settings)

    @classmethod
    @asynccontextmanager
    async def on(cls, settings: Settings) -> AsyncIterator[Factory]:
        """A factory on the database of `settings` (migrated already), with an engine of its own."""
        async with database(settings) as (_engine, sessions):
            yield cls(
                sessions, Vault.of_keys(settings.encryption_key, settings.encryption_key_previous), settings
            )

    def work(self) -> Any:
        """One committed unit of work on this database, for what no factory makes."""
        return unit_of_work(self.sessions)

    # ------------------------------------------------------------------ tenants and people

    async def tenant(self, name: str = "", *, slug: str | None = None, status: str = "active") -> Tenant:
        slug = slug or unique_slug()
        async with self.work() as db:
            return await create_tenant(
                db, self.vault, self.actor, name=name or f"Tenant {slug}", slug=slug, status=status
            )

    async def user(self, email: str | None = None, name: str = "") -> User:
        """A person with no tenant and no identity yet (as JIT or an invitation would make one)."""
        email = email or unique_email()
        async with self.work() as db:
            user = User(id=uuid.uuid4(), email=email, name=name or email.split("@")[0])
            db.add(user)
        return user

    async def platform_admin(self, email: str | None = None, password: str = PASSWORD) -> User:
        async with self.work() as db:
            return await create_platform_admin(
                db, self.actor, email=email or unique_email("admin"), password=password
            )

    async def invitation(
        self, tenant: TenantRef, email: str, role: str = "member"
    ) -> invitations.IssuedInvitation:
        async with self.work() as db:
            row = await _tenant(db, tenant)
            return await invitations.invite(db, self.settings, self.actor, row, email=email, role=role)

    async def accepted(self, token: str, user: User, tenant: TenantRef) -> Membership:
        async with self.work() as db:
            return await invitations.accept_invitation(
                db, self.actor, token=token, user=user, tenant_id=tenant_id_of(tenant)
            )

    async def member(
        self, tenant: TenantRef, role: str = "member", email: str | None = None, name: str = ""
    ) -> User:
        """A new user who joined the tenant by accepting an invitation."""
        user = await self.user(email, name)
        issued = await self.invitation(tenant, user.email, role)
        await self.accepted(token_of(issued.link), user, tenant)
        return user

    async def membership(self, user: User, tenant: TenantRef, role: str = "member") -> Membership:
        """A membership row written directly, for a state no use case leaves (an attack's setting)."""
        async with self.work() as db:
            membership = Membership(user_id=user.id, tenant_id=tenant_id_of(tenant), role=role)
            db.add(membership)
        return membership

    async def identity(self, user: User | uuid.UUID, issuer: str, subject: str) -> Identity:
        """An (issuer, subject) linked to a user, written directly: the sign-in that would link it is
        what the identity tests exercise."""
        user_id = user if isinstance(user, uuid.UUID) else user.id
        async with self.work() as db:
            identity = Identity(user_id=user_id, issuer=issuer, subject=subject)
            db.add(identity)
        return identity

    # ------------------------------------------------------------------ credentials and keys

    async def credential(
        self, tenant: TenantRef, provider: str = "openai", fields: Mapping[str, str] | None = None
    ) -> CredentialView:
        """The tenant's own key for a provider, sealed (default: an OpenAI API key)."""
        async with self.work() as db:
            row = await _tenant(db, tenant)
            work = CredentialWork(db, self.vault, self.settings, self.actor, row)
            found = await find_provider(db, row, provider)
            return await save_credential(
                work, found, dict(fields or {"api_key": f"sk-test-{uuid.uuid4().hex}"})
            )

    async def issued_key(
        self, tenant: TenantRef, name: str = "test-service", **terms: Any
    ) -> tuple[ApiKey, str]:
        """A portal-issued key and its secret (terms as apikeys.services.create_key takes them)."""
        async with self.work() as db:
            row = await _tenant(db, tenant)
            return await apikeys.create_key(db, self.settings, self.actor, row, name=name, **terms)

    async def usage(
        self,
        key: ApiKey,
        cost: str = "0.01",
        *,
        provider: str = "openai",
        model: str = "gpt-4o",
        tokens: tuple[int, int] = (1200, 300),
        idempotency_key: str | None = None,
        at: datetime | None = None,
    ) -> UsageEvent:
        """One usage report recorded for the key, as POST /api/v1/usage records it."""
        async with self.work() as db:
            recorded = await record_usage(
                db,
                key_id=key.id,
                lineage_id=key.lineage_id,
                tenant_id=key.tenant_id,
                limit_micros=key.limit_micros,
                reset_period=key.reset_period,
                label="test",
                report=UsageReport.check(provider, model, tokens[0], tokens[1], cost),
                idempotency_key=idempotency_key,
                now=at or utcnow(),
            )
            return recorded.event
