"""Refuse a NUL character in the path or the query string (400 naming the parameter).

PostgreSQL text cannot hold U+0000: a slug, filter or id carrying one reached the database and
failed there (500). Request bodies are checked where they are decoded (portal.inputs.Input).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from litestar.types import ASGIApp, Receive, Scope, Send

from portal.errors import InvalidInput
from portal.inputs import NUL_PROBLEM
from portal.web.middleware import SkipsStatic


def _nul_parameter(scope: Scope) -> str | None:
    for name, value in (scope.get("path_params") or {}).items():
        if isinstance(value, str) and "\x00" in value:
            return str(name)
    if "\x00" in scope["path"]:
        return "path"
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in value:
                return name if "\x00" not in name else "query"
        return "query"
    return None


class RefuseNul(SkipsStatic):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if (name := _nul_parameter(scope)) is not None:
            raise InvalidInput({name: NUL_PROBLEM})
        await next_app(scope, receive, send)
