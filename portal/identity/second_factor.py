"""The platform admins' second factor: TOTP (RFC 6238) and ten single-use recovery codes.

The TOTP seed is stored wrapped by the master keyring and bound to its user; a code is accepted
once (its time step is remembered); recovery codes are stored as keyed hashes and crossed out when
used. Enrolment keeps the new seed in the server-side session until the first code proves the
authenticator has it.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.config import Settings
from portal.crypto.sealing import Undecryptable
from portal.crypto.vault import Vault
from portal.db.base import utcnow
from portal.db.models import User
from portal.errors import InvalidInput

ISSUER_NAME = "LLM credentials portal"
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
RECOVERY_LENGTH = 12  # about 59 bits each
STEP = 30
DRIFT_STEPS = 1  # one step either side: clocks of phones drift


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str

    @property
    def qr_svg(self) -> str:
        """The provisioning URI as an inline SVG QR code (rendered on the server, no script)."""
        return str(segno.make(self.uri, error="m").svg_inline(scale=5, dark="#111", light="#fff"))

    @property
    def grouped_secret(self) -> str:
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def new_enrolment(email: str, secret: str | None = None) -> Enrolment:
    secret = secret or pyotp.random_base32()
    return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER_NAME))


def _matching_step(secret: str, code: str, after_step: int | None, now: float | None = None) -> int | None:
    """The time step whose code this is (within the allowed drift), if not used already."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now or time.time()) // STEP)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if (after_step is None or step > after_step) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _normalised_recovery(code: str) -> str:
    return "".join(code.lower().split()).replace("-", "")


def recovery_hash(code: str, settings: Settings) -> str:
    key = settings.api_key_secret.encode()
    return hmac.digest(key, b"recovery-code:" + _normalised_recovery(code).encode(), "sha256").hex()


def new_recovery_codes() -> list[str]:
    def one() -> str:
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"

    return [one() for _ in range(RECOVERY_CODES)]


def _who(user: User, actor: Actor) -> Actor:
    return actor.as_person(user.email, user.id, is_platform_admin=user.is_platform_admin)


async def enrol(
    db: AsyncSession,
    vault: Vault,
    settings: Settings,
    actor: Actor,
    user: User,
    *,
    secret: str,
    code: str,
) -> list[str]:
    """Store the seed once a code proves the authenticator has it; the new recovery codes (shown once)."""
    step = _matching_step(secret, code, None)
    if step is None:
        raise InvalidInput(
            {"code": "that code does not match: enter the 6-digit code your authenticator app shows now"}
        )
    codes = new_recovery_codes()
    user.totp_secret_wrapped = vault.wrap_platform_secret(secret, bound_to=str(user.id))
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    user.recovery_code_hashes = [recovery_hash(c, settings) for c in codes]
    await audit.record(db, _who(user, actor), "user.second_factor_enrolled", target=f"user:{user.email}")
    await db.flush()
    return codes


async def check(
    db: AsyncSession, vault: Vault, settings: Settings, actor: Actor, user: User, code: str
) -> str | None:
    """'totp' or 'recovery_code' when the code is good (a recovery code is crossed out); None if not.
    Both outcomes are audited; nothing about why a code failed is told to the caller.

    Commits at once (the one service that does), like a refusal: the code is crossed out and the
    attempt on record before the throttle hears of it, even when the request then fails (the throttle
    writes in a transaction of its own, which SQLite would make wait)."""
    used: str | None = None
    if user.has_second_factor and user.totp_secret_wrapped:
        try:
            secret = vault.open_platform_secret(user.totp_secret_wrapped, bound_to=str(user.id))
        except Undecryptable:
            secret = None
        step = _matching_step(secret, code, user.totp_last_step) if secret else None
        if step is not None:
            user.totp_last_step = step
            used = "totp"
        else:
            digest = recovery_hash(code, settings)
            remaining = [h for h in user.recovery_code_hashes if not hmac.compare_digest(h, digest)]
            if len(remaining) < len(user.recovery_code_hashes):
                user.recovery_code_hashes = remaining
                used = "recovery_code"
    details = {"method": used or "none", "recovery_codes_left": len(user.recovery_code_hashes)}
    await audit.record(
        db,
        _who(user, actor),
        "auth.second_factor",
        target=f"user:{user.email}",
        outcome="success" if used else "failure",
        details=details,
    )
    await db.commit()
    return used


async def reset(db: AsyncSession, actor: Actor, user: User) -> None:
    """Forget the second factor and end every session of the account (it enrols again at sign-in)."""
    user.totp_secret_wrapped = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.recovery_code_hashes = []
    user.sessions_not_before = utcnow()
    await audit.record(db, actor, "user.second_factor_reset", target=f"user:{user.email}")
    await db.flush()
