"""Platform admins: creation and password sign-in."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import anonymous
from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.db.base import utcnow
from portal.db.models import User
from portal.errors import Conflict, InvalidInput, NotFound
from portal.identity import second_factor
from portal.identity.passwords import MIN_PASSWORD, hash_password, verify_password

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def create_platform_admin(
    db: AsyncSession,
    actor: Actor,
    *,
    email: str,
    password: str,
    name: str = "",
    replace_password: bool = False,
) -> User:
    email = normalise_email(email)
    errors = {}
    if not re.fullmatch(EMAIL_PATTERN, email):
        errors["email"] = "a valid e-mail address, e.g. admin@example.com"
    if len(password) < MIN_PASSWORD:
        errors["password"] = f"at least {MIN_PASSWORD} characters"
    if errors:
        raise InvalidInput(errors)
    user = await db.scalar(select(User).where(User.email == email))
    if user is not None and not replace_password:
        raise Conflict(f"A user with the e-mail {email} exists already")
    if user is None:
        user = User(id=uuid.uuid4(), email=email, name=name.strip() or email.split("@")[0])
        db.add(user)
    user.password_hash = await hash_password(password)
    user.is_platform_admin = True
    if replace_password:
        user.sessions_not_before = utcnow()  # a new password ends every session of the old one
    await audit.record(
        db,
        actor,
        "user.admin_created" if not replace_password else "user.admin_password_set",
        target=f"user:{email}",
    )
    try:
        await db.flush()
    except IntegrityError as exc:  # created at the same moment by another command
        raise Conflict(f"A user with the e-mail {email} exists already") from exc
    return user


async def reset_platform_admin_mfa(db: AsyncSession, actor: Actor, *, email: str) -> User:
    """Forget a platform admin's second factor and end their sessions."""
    user = await db.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))
    if user is None or not user.is_platform_admin:
        raise NotFound(f"No platform admin has the e-mail {normalise_email(email)}")
    await second_factor.reset(db, actor, user)
    return user


async def authenticate_admin(db: AsyncSession, actor: Actor, email: str, password: str) -> User | None:
    """The platform admin for these credentials, or None. Both outcomes are audited for an existing
    account; an unknown e-mail is only counted in the log (portal.audit.anonymous), so a storm of
    guesses cannot flood the audit log. Unknown e-mails cost the same hashing work as known ones."""
    email = normalise_email(email)
    user = await db.scalar(select(User).where(func.lower(User.email) == email))
    ok = await verify_password(user.password_hash if user else None, password)
    if user is None:
        anonymous.note("sign_in: unknown account")
        return None
    if not ok or not user.is_platform_admin:
        await audit.record_alone(
            db,
            actor.as_person(email or "(blank)"),
            "auth.sign_in",
            target=f"user:{email}",
            outcome="failure",
            details={"method": "password", "reason": "wrong e-mail or password"},
        )
        return None
    user.last_login_at = utcnow()
    await audit.record(
        db,
        actor.as_person(user.email, user.id, is_platform_admin=True),
        "auth.sign_in",
        target=f"user:{email}",
        details={"method": "password"},
    )
    await db.flush()
    return user


async def record_throttled_account(
    db: AsyncSession, *, kind: str, email: str, ip: str | None, failures: int, window_minutes: int
) -> None:
    """An account's free failed attempts are used up: audited once a window for an existing account,
    counted in the log for an unknown one."""
    email = normalise_email(email)
    user_id = await db.scalar(select(User.id).where(func.lower(User.email) == email))
    if user_id is None:
        anonymous.note(f"{kind}: unknown account throttled")
        return
    await audit.record_alone(
        db,
        Actor(label=email, ip=ip),
        "auth.throttled",
        target=f"user:{email}",
        outcome="failure",
        details={"kind": kind, "failures": failures, "window_minutes": window_minutes},
    )
