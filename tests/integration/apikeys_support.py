"""Kept so imports from other branches keep working: these helpers live in tests.support (api, clock)."""

from tests.support.api import OPENAI_KEY, SERVICE_SCOPES, bearer, create_key, refused, report, resolve
from tests.support.clock import FakeClock, moved_clock

__all__ = [
    "OPENAI_KEY",
    "SERVICE_SCOPES",
    "FakeClock",
    "bearer",
    "create_key",
    "moved_clock",
    "refused",
    "report",
    "resolve",
]
