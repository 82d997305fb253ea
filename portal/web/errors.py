"""One place that turns errors into answers: JSON under /api, pages elsewhere. Never a secret.

The one handler table of the app. Every refusal a use case makes is a portal.errors.ServiceError
(with a stable code); the service API (a controller with `opt={SERVICE_API: True}`) answers in its
own JSON shape, with that code and `Cache-Control: no-store`."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Redirect

from portal.apikeys.refusals import NO_STORE, Refusal
from portal.errors import InvalidInput, ServiceError
from portal.gateway.errors import GATEWAY_API, GatewayError, error_body

# The route option of the service API (portal.apikeys.service_api): errors in its JSON shape.
SERVICE_API = "service_api"
# The service API's codes for the framework's own refusals.
HTTP_CODES = {401: "missing_key", 403: "scope_missing", 404: "not_found", 405: "method_not_allowed"}

log = logging.getLogger("portal.errors")
CSRF_FAILED = "CSRF token verification failed"  # litestar.middleware.csrf's refusal
CSRF_MESSAGE = "This form did not come from this site, or it expired: go back, reload the page and try again."


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/health"


def _service_api(request: Request[Any, Any, Any]) -> bool:
    handler = request.scope.get("route_handler")
    return bool(handler is not None and handler.opt.get(SERVICE_API))


def _gateway(request: Request[Any, Any, Any]) -> bool:
    handler = request.scope.get("route_handler")
    return bool(handler is not None and handler.opt.get(GATEWAY_API))


def _gateway_answer(status: int, body: bytes, headers: Mapping[str, str]) -> Response[Any]:
    """The gateway's error in OpenAI's shape; never cached."""
    headers = {**NO_STORE, **headers}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="portal"'
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _as_gateway_error(exc: ServiceError) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, Refusal):
        return GatewayError.of(exc)
    return GatewayError(exc.code, exc.message, status=exc.status_code, headers=exc.headers)


def _service_answer(status: int, code: str, detail: str, headers: dict[str, str]) -> Response[Any]:
    """The service API's error: status, stable code and detail; never cached."""
    headers = {**NO_STORE, **headers}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="portal"'
    body = {"status_code": status, "code": code, "detail": detail}
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


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

    context = {"status": status, "message": message, "back": _way_back(request)}
    return render(request, "error.html", context, status_code=status)


def _way_back(request: Request[Any, Any, Any]) -> str | None:
    """The page the refused form was on (same site only), for the error page's Back link."""
    referer = urlsplit(request.headers.get("referer") or "")
    if referer.netloc != request.url.netloc or not referer.path.startswith("/"):
        return None
    back = referer.path + (f"?{referer.query}" if referer.query else "")
    return None if back == request.url.path else back


def handle_service_error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    """A use case's refusal (a throttled attempt among them: 429 with Retry-After)."""
    headers = dict(exc.headers)
    if _gateway(request):
        error = _as_gateway_error(exc)
        return _gateway_answer(error.status_code, error.body(), error.headers)
    if _service_api(request):
        return _service_answer(exc.status_code, exc.code, exc.message, headers)
    if _wants_json(request):
        body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.message}
        if isinstance(exc, InvalidInput):
            body["errors"] = exc.errors
        return Response(body, status_code=exc.status_code, media_type=MediaType.JSON, headers=headers)
    page = _error_page(request, exc.status_code, exc.message)
    page.headers.update(headers)
    return page


def _validation_errors(exc: HTTPException) -> dict[str, str]:
    if not isinstance(exc, ValidationException) or not isinstance(exc.extra, list):
        return {}
    return dict(_error_entry(item) for item in exc.extra if isinstance(item, dict))


def _service_http_error(exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        problems = [
            f"{item.get('key') or 'body'}: {item.get('message')}"
            for item in exc.extra or []
            if isinstance(item, dict)
        ]
        detail = "; ".join(problems) or str(exc.detail)
        return _service_answer(400, "invalid_request", detail, {})
    code = HTTP_CODES.get(exc.status_code, "error")
    body = {"status_code": exc.status_code, "code": code, "detail": exc.detail}
    return Response(body, status_code=exc.status_code, media_type=MediaType.JSON, headers=NO_STORE)


def _gateway_http_error(exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    code = {401: "missing_key", 403: "scope_missing", 404: "not_found"}.get(status, "invalid_request")
    if isinstance(exc, ValidationException):
        status, code = 400, "invalid_request"
    return _gateway_answer(status, error_body(status, code, str(exc.detail)), dict(exc.headers or {}))


def handle_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if _gateway(request):
        return _gateway_http_error(exc)
    if _service_api(request):
        return _service_http_error(exc)
    status = exc.status_code
    headers = dict(exc.headers or {})  # e.g. Allow on a 405
    errors = _validation_errors(exc)
    if _wants_json(request):
        body: dict[str, Any] = {"status_code": status, "detail": exc.detail}
        if errors:
            body["errors"] = errors
        if status == 401:
            headers["WWW-Authenticate"] = 'ApiKey header="X-API-Key"'
        return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)
    if isinstance(exc, NotAuthorizedException):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(path=f"/login?next={quote(target)}", status_code=303)
    if status == 403 and exc.detail == CSRF_FAILED:
        return _error_page(request, 403, CSRF_MESSAGE)
    messages = {
        403: "You may not do this.",
        404: "There is nothing here.",
        405: "Method not allowed.",
    }
    message = messages.get(status, exc.detail)
    if errors:
        message = "Invalid request: " + "; ".join(f"{key}: {text}" for key, text in errors.items())
    page = _error_page(request, status, message)
    page.headers.update(headers)
    return page


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The engine hides bound parameters, so a driver's message quotes no value.
    log.exception("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    if _gateway(request):
        return _gateway_answer(500, error_body(500, "internal_error", "Internal error"), {})
    if _wants_json(request):
        return Response({"status_code": 500, "detail": "Internal error"}, status_code=500)
    return _error_page(request, 500, "Something went wrong on our side. It has been logged.")


exception_handlers = {
    ServiceError: handle_service_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}
