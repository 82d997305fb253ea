"""An invitation link is a credential: its token never appears in a log line (uvicorn's access log,
the portal's loggers), checked on a real server's output and on the records the loggers make."""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path

import httpx
from uvicorn.logging import AccessFormatter

from portal.web import log_redaction
from tests.support.env import make_settings
from tests.support.processes import start_portal
from tests.support.servers import closed_port

READY = "Application startup complete"


def canary() -> str:
    return "invitecanary" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")


def test_access_and_portal_records_are_redacted(caplog, monkeypatch):
    log_redaction.install()
    token = canary()
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    access = logging.getLogger("uvicorn.access")
    # A uvicorn started in-process earlier in the run (its logging config) stops this logger's
    # records from reaching the root logger, where caplog listens.
    monkeypatch.setattr(access, "propagate", True)
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/invite/{token}?x=1", "1.1", 200)
    logging.getLogger("portal.errors").error("unhandled KeyError on GET /invite/%s", token)
    logging.getLogger("portal.members").info(f"link https://portal.example/invite/{token} sent")
    logging.getLogger("portal").info("next=%s", f"%2Finvite%2F{token}")
    assert token not in caplog.text
    messages = {record.getMessage() for record in caplog.records}
    for expected in (
        '127.0.0.1:5000 - "GET /invite/[redacted]?x=1 HTTP/1.1" 200',
        "unhandled KeyError on GET /invite/[redacted]",
        "link https://portal.example/invite/[redacted] sent",
        "next=%2Finvite%2F[redacted]",
    ):
        assert expected in messages, (expected, messages)
    # uvicorn's own access formatter still finds its five arguments.
    access_record = next(r for r in caplog.records if r.name == "uvicorn.access")
    formatted = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(access_record)
    assert formatted == '127.0.0.1:5000 - "GET /invite/[redacted]?x=1 HTTP/1.1" 200 OK'


def test_a_real_servers_output_never_holds_the_token(tmp_path: Path):
    token = canary()
    port = closed_port()
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}")
    server = start_portal("serve", "--host", "127.0.0.1", "--port", str(port), env=settings.environ)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            lines.append(line)
            if READY in line:
                ready.set()
        ready.set()  # the server ended: stop waiting

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(60) and server.poll() is None, "".join(lines)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get(f"/invite/{token}").status_code < 500
            client.get(f"/invite/{token}/accept")
            client.post(f"/invite/{token}", data={"_csrf_token": "x"})
            client.get("/login", params={"next": f"/invite/{token}"})
    finally:
        server.terminate()
        server.wait(30)
        reader.join(30)
    output = "".join(lines)
    assert f"/invite/{log_redaction.REDACTED}" in output, output  # the access log was on
    assert token not in output
