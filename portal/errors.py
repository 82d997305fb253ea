"""Errors the services raise; the web layer (portal.web.errors, one handler table) turns each into a
status code and a message. Plain Python: the CLI and the services import it without the web framework.

Every error has a stable `code` a client may act on; the service API sends it in its JSON answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

T = TypeVar("T")


class ServiceError(Exception):
    """The one base class: an HTTP status, a stable code and a message safe to show."""

    status_code = 400
    code = "invalid_request"
    headers: Mapping[str, str] = MappingProxyType({})  # sent with the answer, e.g. Retry-After

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def field_errors(self, field: str) -> dict[str, str]:
        """What a form shows beside its fields: this error's message beside `field`."""
        return {field: self.message}


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class Forbidden(ServiceError):
    status_code = 403
    code = "forbidden"


class InvalidInput(ServiceError):
    """Bad input: `errors` maps each field to what is wrong and how to fix it."""

    status_code = 400
    code = "invalid_request"

    def __init__(self, errors: dict[str, str], message: str | None = None) -> None:
        self.errors = errors
        summary = "; ".join(f"{name}: {problem}" for name, problem in errors.items())
        super().__init__(message or f"Invalid input: {summary}")

    def field_errors(self, field: str) -> dict[str, str]:
        """Each field's own problem (`field` is where an error of another kind would be shown)."""
        return self.errors


def id_or_404(value: str | uuid.UUID, what: str) -> uuid.UUID:
    """The id in a path or argument; NotFound("<what> not found") when it is not one."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what} not found") from None


def found(value: T | None, what: str) -> T:
    """`value`, or NotFound("<what> not found"): the one find-by-id-or-404 of every loader."""
    if value is None:
        raise NotFound(f"{what} not found")
    return value
