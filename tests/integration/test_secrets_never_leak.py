"""The canary secret, stored through every API and form that takes one, never comes back out:
not in responses, pages, the audit log, the logs, or (SQLite) the database file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.api import azure_fields, credentials_url, new_tenant, portal_url
from tests.support.env import CANARY
from tests.support.rows import credential_rows

assert len(CANARY) > 20


class Seen:
    """Every response body of a test, to search afterwards."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str]] = []

    def add(self, response, expect: int | tuple[int, ...] = 200):
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert response.status_code in expected, (
            response.request.url,
            response.status_code,
            response.text[:300],
        )
        label = f"{response.request.method} {response.request.url.path}"
        self.bodies.append((label, response.text))
        for name, value in response.headers.items():
            self.bodies.append((f"{label} header {name}", value))
        return response

    def assert_absent(self, needle: str) -> None:
        assert needle
        leaks = [label for label, body in self.bodies if needle in body]
        assert not leaks, f"{needle[:12]}… found in {leaks}"


def sealed_values(rows) -> list[str]:
    values = []
    for row in rows:
        for sealed in row.sealed_fields.values():
            values.append(sealed)
            values.append(sealed.split(":", 1)[1])  # the base64 body alone
    assert values
    return values


async def audit_text(app) -> str:
    async with app.state.portal.sessions() as db:
        rows = (await db.execute(text("SELECT * FROM audit_events"))).all()
    assert rows
    return "\n".join(repr(tuple(row)) for row in rows)


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(record.exc_text or "")
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(repr(record.exc_info[1]))
    return "\n".join(parts)


async def store_through_the_api(api, stub_provider, seen: Seen):
    tenant = await new_tenant(api, name="Canary API")
    seen.add(await api.put(credentials_url(tenant, "openai"), json={"api_key": CANARY, "label": "canary"}))
    seen.add(
        await api.post(portal_url(tenant, "/llm-keys"), json={"provider": "anthropic", "api_key": CANARY}),
        201,
    )
    seen.add(await api.put(credentials_url(tenant, "azure"), json=azure_fields(stub_provider.url, CANARY)))
    seen.add(
        await api.post(
            portal_url(tenant, "/providers"),
            json={"name": "canary-gw", "base_url": f"{stub_provider.url}/v1", "api_key": CANARY},
        ),
        201,
    )
    seen.add(await api.put(portal_url(tenant, "/providers/mistral"), json={"api_key": CANARY}))
    # Replacing keeps working, and answers the same masked shape.
    seen.add(await api.put(credentials_url(tenant, "openai"), json={"api_key": CANARY}))
    # Refusals must not echo the secret either.
    seen.add(await api.put(credentials_url(tenant, "azure"), json=azure_fields("ftp://bad", CANARY)), 400)
    seen.add(await api.put(credentials_url(tenant, "openai"), json={"api_key": CANARY, "endpoint": "x"}), 400)
    seen.add(await api.put(credentials_url(tenant, "openai"), json={"api_key": CANARY + " tail"}), 400)
    seen.add(await api.put(credentials_url(tenant, "openai"), json={"api_key": CANARY * 200}), 400)
    seen.add(
        await api.post(portal_url(tenant, "/llm-keys"), json={"provider": "openai", "api_key": CANARY}), 409
    )
    seen.add(
        await api.post(
            portal_url(tenant, "/providers"),
            json={"name": "canary-gw", "base_url": "https://x.example.com", "api_key": CANARY},
        ),
        409,
    )
    seen.add(await api.put(credentials_url(tenant, "nope"), json={"api_key": CANARY}), 404)
    seen.add(await api.put(credentials_url(tenant, "openai"), json={"api_key": CANARY, "x": 1}), 400)
    # Connection tests with the canary (the stub accepts it).
    for provider in ("openai", "anthropic", "azure", "canary-gw"):
        tested = seen.add(await api.post(portal_url(tenant, f"/credentials/{provider}/test")))
        assert tested.json() == {"ok": True}, (provider, tested.text)
    assert any(r.get("authorization") == f"Bearer {CANARY}" for r in stub_provider.requests)
    return tenant


async def store_through_the_forms(api, browser_session, seen: Seen):
    client, token = browser_session
    tenant = await new_tenant(api, name="Canary forms")
    base = f"/t/{tenant['slug']}"
    form = {"_csrf_token": token}
    seen.add(
        await client.post(
            f"{base}/credentials",
            data={**form, "provider": "openai", "api_key": CANARY},
            follow_redirects=True,
        )
    )
    seen.add(
        await client.post(
            f"{base}/providers",
            data={**form, "name": "form-gw", "base_url": "https://gw.example.com/v1", "api_key": CANARY},
            follow_redirects=True,
        )
    )
    # A refused form is shown again, without the secret.
    refused = await client.post(
        f"{base}/credentials",
        data={**form, "provider": "azure", "api_key": CANARY, "endpoint": "not a url"},
        follow_redirects=True,
    )
    seen.add(refused, 400)
    assert 'name="endpoint"' in refused.text
    seen.add(
        await client.post(
            f"{base}/providers",
            data={**form, "name": "bad gw", "base_url": "https://gw.example.com", "api_key": CANARY},
        ),
        400,
    )
    seen.add(
        await client.post(
            f"{base}/credentials",
            data={**form, "provider": "gemini", "api_key": CANARY, "label": "x" * 300},
            follow_redirects=True,
        ),
        400,
    )
    # The page's connection test, plain and htmx.
    seen.add(await client.post(f"{base}/credentials/openai/test", data=form, follow_redirects=True))
    seen.add(
        await client.post(
            f"{base}/credentials/openai/test",
            data=form,
            headers={"hx-request": "true", "hx-target": "test_openai"},
        )
    )
    return tenant


async def read_everything(api, browser_session, tenant, seen: Seen):
    client, _ = browser_session
    seen.add(await api.get(credentials_url(tenant)))
    seen.add(await api.get(portal_url(tenant, "/llm-keys")))
    providers = seen.add(await api.get(portal_url(tenant, "/providers"))).json()
    seen.add(await api.get(portal_url(tenant, "/providers/with-keys")))
    base = f"/t/{tenant['slug']}"
    for path in (base, f"{base}/credentials", f"{base}/providers", f"{base}/credentials/openai/delete"):
        seen.add(await client.get(path))
    for provider in providers:
        if not provider["builtin"] or provider["credential_source"] == "tenant":
            seen.add(await client.get(f"{base}/providers/{provider['id']}"))
            seen.add(await client.get(f"{base}/credentials", params={"provider": provider["name"]}))


def log_everything(caplog: pytest.LogCaptureFixture) -> None:
    """DEBUG for the root and for the loggers the app configures with a level of their own."""
    for name in (None, "portal", "litestar", "httpx", "httpcore", "sqlalchemy"):
        caplog.set_level(logging.DEBUG, logger=name)


async def test_the_canary_never_leaks(api, app, browser_session, stub_provider, settings, captured_logs):
    log_everything(captured_logs)
    seen = Seen()
    by_api = await store_through_the_api(api, stub_provider, seen)
    by_form = await store_through_the_forms(api, browser_session, seen)
    for tenant in (by_api, by_form):
        await read_everything(api, browser_session, tenant, seen)

    # Things were stored: 5 credentials through the API, 2 through the forms.
    api_rows = await credential_rows(app, by_api["id"])
    form_rows = await credential_rows(app, by_form["id"])
    assert len(api_rows) == 5
    assert len(form_rows) == 2
    for row in (*api_rows, *form_rows):
        assert row.key_hint == "..." + CANARY[-4:]
        assert CANARY not in repr(row.sealed_fields)
        assert CANARY not in repr(row.config)

    seen.assert_absent(CANARY)
    for sealed in sealed_values(api_rows + form_rows):
        seen.assert_absent(sealed)

    assert CANARY not in await audit_text(app)

    logs = log_text(captured_logs)
    assert captured_logs.records, "nothing was logged: the log check would prove nothing"
    assert CANARY not in logs

    if settings.is_sqlite:
        database = Path(settings.database_url.split(":///", 1)[1])
        files = [database, Path(f"{database}-wal")]
        blob = b"".join(f.read_bytes() for f in files if f.exists())
        assert database.exists() and len(blob) > 0
        assert CANARY.encode() not in blob
        assert CANARY.encode("utf-16-le") not in blob


async def test_log_capture_would_see_a_leak(captured_logs):
    """The check above is meaningful: a secret logged by the portal's loggers is captured."""
    log_everything(captured_logs)
    logging.getLogger("portal.credentials").debug("oops %s", "sk-pretend-leak")
    assert "sk-pretend-leak" in log_text(captured_logs)
