"""Kept so imports from other branches keep working: people are made by tests.support.factories and
signed in by tests.support.signin."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from portal.db.models import User
from portal.members.invitations import IssuedInvitation
from tests.support.clock import ago
from tests.support.factories import SYSTEM, Factory, token_of
from tests.support.rows import tenant_row
from tests.support.signin import (
    impersonating_session,
    impersonation_data,
    session_client,
    signed_in_session,
    with_csrf,
    write_session,
)


async def make_user(app: Litestar, email: str | None = None, name: str = "") -> User:
    return await Factory.of_app(app).user(email, name)


async def invite(app: Litestar, tenant_id: str, email: str, role: str = "member") -> IssuedInvitation:
    return await Factory.of_app(app).invitation(tenant_id, email, role)


async def accept(app: Litestar, token: str, user: User, tenant_id: str) -> Any:
    return await Factory.of_app(app).accepted(token, user, tenant_id)


async def add_member(app: Litestar, tenant_id: str, role: str = "member", email: str | None = None) -> User:
    return await Factory.of_app(app).member(tenant_id, role, email)


__all__ = [
    "SYSTEM",
    "accept",
    "add_member",
    "ago",
    "impersonating_session",
    "impersonation_data",
    "invite",
    "make_user",
    "session_client",
    "signed_in_session",
    "tenant_row",
    "token_of",
    "with_csrf",
    "write_session",
]
