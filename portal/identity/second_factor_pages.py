"""The second step of a platform admin's sign-in: a TOTP or recovery code, or enrolment.

After the password, the session holds only a pending entry (whose password it was, when, where to
go next): no principal, no rights. The code turns it into a signed-in session authenticated by
password and second factor. Enrolment shows a QR code drawn on the server and, once the first
code matches, the ten recovery codes, once.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.models import User
from portal.errors import InvalidInput
from portal.identity import second_factor
from portal.identity.forms import CodeData
from portal.web.auth import AUTH_KEY, password_auth, principal_of
from portal.web.deps import CurrentActor, CurrentSettings, Db, TheVault
from portal.web.forms import safe_next
from portal.web.guards import allow_anyone
from portal.web.sessions import renew_session_id
from portal.web.templating import redirect_after_change, render
from portal.web.throttle import throttle_of

PENDING_KEY = "second_factor_pending"
ENROL_SECRET_KEY = "second_factor_enrolment"
PENDING_SECONDS = 300
CHECK_PATH = "/login/second-factor"
SETUP_PATH = "/login/second-factor/setup"
HOME = "/admin/tenants"
EXPIRED = "Your sign-in took too long or was not started here. Sign in again."


def pending_second_factor(user_id: uuid.UUID, next_url: str, *, enrol: bool) -> dict[str, Any]:
    return {"user_id": str(user_id), "at": time.time(), "next": next_url, "enrol": enrol}


def _session(request: Request[Any, Any, Any]) -> dict[str, Any]:
    value = request.scope.get("session")
    return dict(value) if isinstance(value, dict) else {}


async def _pending_user(
    request: Request[Any, Any, Any], db: AsyncSession
) -> tuple[User, dict[str, Any]] | None:
    """The platform admin whose password was just accepted in this browser, if still in time."""
    pending = _session(request).get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > PENDING_SECONDS:
        return None
    user = await db.get(User, uuid.UUID(str(pending["user_id"])))
    if user is None or not user.is_platform_admin:
        return None
    return user, pending


async def _enrolling_user(request: Request[Any, Any, Any], db: AsyncSession) -> tuple[User, str] | None:
    """Who may enrol now: a pending sign-in that must enrol, or a signed-in platform admin without
    a second factor (where it is optional). Also where to go afterwards."""
    found = await _pending_user(request, db)
    if found is not None:
        user, pending = found
        return (user, str(pending.get("next") or "")) if not user.has_second_factor else None
    principal = principal_of(request)
    if principal is None or not principal.acts_platform_wide or principal.user_id is None:
        return None
    account = await db.get(User, principal.user_id)
    return (account, "") if account is not None and not account.has_second_factor else None


async def _signed_in(request: Request[Any, Any, Any], user: User) -> None:
    await renew_session_id(request)
    request.set_session({"user_id": str(user.id), AUTH_KEY: password_auth(second_factor=True)})


def _not_stored(response: Response[Any]) -> Response[Any]:
    """Pages that show a seed or recovery codes are kept by no cache, the browser's included."""
    response.headers["cache-control"] = "no-store"
    return response


class SecondFactorPages(Controller):
    guards = [allow_anyone]
    include_in_schema = False

    @get(CHECK_PATH)
    async def check_form(self, request: Request[Any, Any, Any], db: Db) -> Response[Any]:
        found = await _pending_user(request, db)
        if found is None:
            return redirect_after_change(request, "/login", EXPIRED, "error")
        if found[1].get("enrol"):
            return Redirect(SETUP_PATH, status_code=303)
        return render(request, "auth/second_factor.html", {"email": found[0].email, "errors": {}})

    @post(CHECK_PATH)
    async def check(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        vault: TheVault,
        settings: CurrentSettings,
        actor: CurrentActor,
        data: CodeData,
    ) -> Response[Any]:
        found = await _pending_user(request, db)
        if found is None or found[1].get("enrol"):
            return redirect_after_change(request, "/login", EXPIRED, "error")
        user, pending = found
        attempt = await throttle_of(request).check("second_factor", client_ip=actor.ip, account=user.email)
        used = await second_factor.check(db, vault, settings, actor, user, data.code)
        await (attempt.succeeded() if used else attempt.failed())
        if used is None:
            errors = {
                "code": "that code is not right: enter the code your authenticator shows now, or an "
                "unused recovery code"
            }
            return render(
                request, "auth/second_factor.html", {"email": user.email, "errors": errors}, status_code=400
            )
        await _signed_in(request, user)
        message = f"Signed in as {user.email}."
        if used == "recovery_code":
            left = len(user.recovery_code_hashes)
            message += f" You used a recovery code: {left} left."
        return redirect_after_change(request, safe_next(str(pending.get("next") or ""), HOME), message)

    @get(SETUP_PATH)
    async def setup_form(self, request: Request[Any, Any, Any], db: Db) -> Response[Any]:
        found = await _enrolling_user(request, db)
        if found is None:
            return redirect_after_change(request, "/login", EXPIRED, "error")
        return self._setup_page(request, found[0], {})

    def _setup_page(
        self, request: Request[Any, Any, Any], user: User, errors: dict[str, str], status_code: int = 200
    ) -> Response[Any]:
        session = _session(request)
        # The same secret across reloads of the page until it is confirmed (or the session ends).
        secret = session.get(ENROL_SECRET_KEY)
        enrolment = second_factor.new_enrolment(user.email, secret if isinstance(secret, str) else None)
        if secret != enrolment.secret:
            request.set_session({**session, ENROL_SECRET_KEY: enrolment.secret})
        context = {"email": user.email, "enrolment": enrolment, "errors": errors}
        return _not_stored(render(request, "auth/second_factor_setup.html", context, status_code=status_code))

    @post(SETUP_PATH)
    async def setup(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        vault: TheVault,
        settings: CurrentSettings,
        actor: CurrentActor,
        data: CodeData,
    ) -> Response[Any]:
        found = await _enrolling_user(request, db)
        secret = _session(request).get(ENROL_SECRET_KEY)
        if found is None or not isinstance(secret, str):
            return redirect_after_change(request, "/login", EXPIRED, "error")
        user, next_url = found
        try:
            codes = await second_factor.enrol(db, vault, settings, actor, user, secret=secret, code=data.code)
        except InvalidInput as exc:
            return self._setup_page(request, user, exc.errors, status_code=400)
        await _signed_in(request, user)
        context = {"codes": codes, "next": safe_next(next_url, HOME), "email": user.email}
        return _not_stored(render(request, "auth/recovery_codes.html", context))
