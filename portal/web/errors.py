"""One place that turns errors into answers: JSON under /api, pages elsewhere. Never a secret."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Redirect

from portal.errors import InvalidInput, ServiceError

log = logging.getLogger("portal.errors")


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/health"


# msgspec reports a missing or unknown body field at the body itself ("data"); name the field.
_FIELD_IN_MESSAGE = re.compile(r"(?:missing required|unknown) field `([^`]{1,100})`")


# A body's own check (portal.inputs.Input) names the field first: "metadata.env: problem".
_FIELD_FIRST = re.compile(r"^([A-Za-z_][\w.\[\]]{0,100}): (.+)$", re.S)


def _error_entry(item: dict[str, Any]) -> tuple[str, str]:
    key = str(item.get("key") or "body")
    message = str(item.get("message"))
    if key in {"data", "body"}:
        if match := _FIELD_IN_MESSAGE.search(message):
            return match.group(1), message
        if match := _FIELD_FIRST.match(message):
            return match.group(1), match.group(2)
    return key, message


def _error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[str]:
    from portal.web.templating import render

    return render(request, "error.html", {"status": status, "message": message}, status_code=status)


def handle_service_error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    if _wants_json(request):
        body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.message}
        if isinstance(exc, InvalidInput):
            body["errors"] = exc.errors
        return Response(body, status_code=exc.status_code, media_type=MediaType.JSON)
    return _error_page(request, exc.status_code, exc.message)


def handle_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if _wants_json(request):
        body: dict[str, Any] = {"status_code": status, "detail": exc.detail}
        if isinstance(exc, ValidationException) and exc.extra:
            body["errors"] = dict(_error_entry(item) for item in exc.extra if isinstance(item, dict))
        headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'} if status == 401 else None
        return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)
    if isinstance(exc, NotAuthorizedException):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(path=f"/login?next={quote(target)}", status_code=303)
    messages = {
        403: "You may not do this.",
        404: "There is nothing here.",
        405: "Method not allowed.",
    }
    return _error_page(request, status, messages.get(status, exc.detail))


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The engine hides bound parameters, so a driver's message quotes no value.
    log.exception("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    if _wants_json(request):
        return Response({"status_code": 500, "detail": "Internal error"}, status_code=500)
    return _error_page(request, 500, "Something went wrong on our side. It has been logged.")


exception_handlers = {
    ServiceError: handle_service_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}
