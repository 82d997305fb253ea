"""Errors the services raise; the web layer turns each into a status code and a message."""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class Forbidden(ServiceError):
    status_code = 403


class InvalidInput(ServiceError):
    """Bad input: `errors` maps each field to what is wrong and how to fix it."""

    status_code = 400

    def __init__(self, errors: dict[str, str], message: str | None = None) -> None:
        self.errors = errors
        summary = "; ".join(f"{name}: {problem}" for name, problem in errors.items())
        super().__init__(message or f"Invalid input: {summary}")
