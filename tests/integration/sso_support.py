"""Kept so imports from other branches keep working: these helpers live in tests.support (sso, rows,
signin)."""

from tests.support.rows import identities_of, membership_role, user_by_email
from tests.support.signin import csrf_token
from tests.support.sso import *  # noqa: F403

__all__ = ["csrf_token", "identities_of", "membership_role", "user_by_email"]  # and tests.support.sso's
