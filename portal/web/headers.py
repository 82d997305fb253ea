"""Security headers on every answer: pages, JSON, static files, redirects and errors alike.

A `before_send` hook rather than an app middleware: Litestar runs app middlewares only once a
route has matched, so the router's own 404 and 405 answers would go out without them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.types import Message, Scope

from portal.config import Settings

# Nothing from another origin, no inline script or style, no framing, no <base> redirection.
# img-src adds data: because the vendored Pico stylesheet draws its form icons (select chevron,
# checkbox, validity marks) as data: SVG images; an image cannot run script.
# No form-action: signing in through a tenant's identity provider, accepting an invitation and
# signing out of a single sign-on session are form posts answered with a redirect to that
# provider, and Chromium applies form-action to the redirect; the providers' origins are per tenant
# and unknown when a page is rendered. (Answering those posts with a page that links onward would
# let form-action 'self' come back.)
CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'"
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(settings: Settings) -> list[tuple[str, str]]:
    headers = [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ]
    if settings.https:
        headers.append(("strict-transport-security", HSTS))
    return headers


def security_headers_hook(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    """Adds the headers to each response's start message, except those a handler chose itself
    (the invitation page's stricter `Referrer-Policy: no-referrer`, say)."""
    encoded = [(name.encode(), value.encode()) for name, value in security_headers(settings)]

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            message["headers"] = headers + [(k, v) for k, v in encoded if k not in present]

    return add_headers
