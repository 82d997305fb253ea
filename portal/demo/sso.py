"""Single sign-on for the demo: a local OpenID Provider for the demo tenants, and the people in it.

acme signs in through it with just-in-time provisioning for @acme.example; globex without. Alice
and Carol are their admins, Bob and Dave members (all seeded with their identities); Erin joins
Acme by herself on first sign-in; Mallory is refused by Globex.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from portal.audit.actor import Actor
from portal.config import Settings
from portal.crypto.vault import Vault
from portal.db.models import Identity, Membership, Tenant, User
from portal.db.session import command_session
from portal.demo.identity_provider import DemoClient, DemoIdentityProvider, DemoUser
from portal.identity.federation.services import FederationInput, callback_url, save_federation
from portal.identity.oidc.completion import SIGNED_OUT_PATH


@dataclass(frozen=True)
class DemoPerson:
    user: DemoUser
    tenant: str | None  # seeded as a member of this tenant
    role: str | None
    note: str


ADMINS = ("portal-admins",)
PEOPLE = (
    DemoPerson(
        DemoUser("demo-alice", "alice@acme.example", "Alice Adams", ADMINS),
        "acme",
        "admin",
        "Acme tenant admin",
    ),
    DemoPerson(DemoUser("demo-bob", "bob@acme.example", "Bob Baker"), "acme", "member", "Acme tenant member"),
    DemoPerson(
        DemoUser("demo-carol", "carol@globex.example", "Carol Chen", ADMINS),
        "globex",
        "admin",
        "Globex tenant admin",
    ),
    DemoPerson(
        DemoUser("demo-dave", "dave@globex.example", "Dave Diaz"), "globex", "member", "Globex tenant member"
    ),
    DemoPerson(
        DemoUser("demo-erin", "erin@acme.example", "Erin Evans"), None, None, "joins Acme on first sign-in"
    ),
    DemoPerson(
        DemoUser("demo-mallory", "mallory@globex.example", "Mallory Moss"),
        None,
        None,
        "refused: not a Globex member",
    ),
)
TENANTS = {"acme": ("acme.example", True), "globex": ("globex.example", False)}  # domain, JIT


def client_secret(settings: Settings, slug: str) -> str:
    """Each demo tenant's client secret, derived from the demo's session secret (stable across runs)."""
    return hmac.new(settings.session_secret.encode(), f"demo-idp:{slug}".encode(), hashlib.sha256).hexdigest()


def start_identity_provider(settings: Settings, host: str, port: int) -> DemoIdentityProvider:
    clients = [
        DemoClient(
            client_id=f"portal-{slug}",
            client_secret=client_secret(settings, slug),
            redirect_uris=[callback_url(settings)],
            post_logout_redirect_uris=[f"{settings.public_url}{SIGNED_OUT_PATH}"],
            name=f"LLM credentials portal ({slug})",
        )
        for slug in TENANTS
    ]
    return DemoIdentityProvider(
        [p.user for p in PEOPLE], clients, host=host, port=port, title="Demo identity provider"
    ).start()


async def seed_sso(settings: Settings, issuer: str) -> None:
    """The demo tenants' identity providers, people, identities and memberships; safe to run again."""
    vault = Vault.of_keys(settings.encryption_key, settings.encryption_key_previous)
    actor = Actor.system("demo-seed")
    async with command_session(settings) as db:
        tenants = {t.slug: t for t in await db.scalars(select(Tenant).where(Tenant.slug.in_(TENANTS)))}
        for slug, (domain, jit) in TENANTS.items():
            if slug not in tenants:
                continue
            settings_in = FederationInput(
                issuer=issuer,
                client_id=f"portal-{slug}",
                client_secret=client_secret(settings, slug),
                scopes="openid profile email groups",
                allowed_domains=[domain],
                role_claim="groups",
                admin_values=list(ADMINS),
                jit_provisioning=jit,
                enabled=True,
            )
            await save_federation(db, vault, settings, actor, tenants[slug], settings_in)
        for person in PEOPLE:
            tenant = tenants.get(person.tenant or "")
            if tenant is None or person.role is None:
                continue
            user = await db.scalar(select(User).where(User.email == person.user.email))
            if user is None:
                user = User(id=uuid.uuid4(), email=person.user.email, name=person.user.name)
                db.add(user)
                await db.flush()
            known = await db.scalar(
                select(Identity.id).where(Identity.issuer == issuer, Identity.subject == person.user.subject)
            )
            if known is None:
                db.add(
                    Identity(
                        id=uuid.uuid4(),
                        user_id=user.id,
                        issuer=issuer,
                        subject=person.user.subject,
                        email_at_link=person.user.email,
                    )
                )
            member = await db.get(Membership, (user.id, tenant.id))
            if member is None:
                db.add(Membership(user_id=user.id, tenant_id=tenant.id, role=person.role))


def start_demo_sso(settings: Settings, host: str, port: int) -> tuple[DemoIdentityProvider, str]:
    """Start the demo provider, seed what signs in through it; returns it and how to use it."""
    idp = start_identity_provider(settings, host, port)
    asyncio.run(seed_sso(settings, idp.issuer))
    width = max(len(p.user.email) for p in PEOPLE)
    people = "".join(f"      {p.user.email:<{width}}  {p.note}\n" for p in PEOPLE)
    text = (
        f"  Single sign-on: demo identity provider at {idp.issuer}\n"
        f"    Open {settings.public_url}/login, type one of these work addresses, press Continue,\n"
        "    then pick the same person on the provider's page (no password: it is a demo):\n"
        f"{people}"
    )
    return idp, text
