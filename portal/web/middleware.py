"""The base of the portal's own middlewares: static files pass straight through (they need no
caller, no NUL check and no impersonation bookkeeping)."""

from __future__ import annotations

from litestar.middleware import ASGIMiddleware
from litestar.types import Scope


class SkipsStatic(ASGIMiddleware):
    @staticmethod
    def should_bypass_for_scope(scope: Scope) -> bool:
        return scope["path"].startswith("/static/")
