"""Invitations by e-mail: with SMTP_URL set the link is mailed (to a local SMTP sink started here),
not shown; a mail server that fails leaves the link to pass on by hand."""

from __future__ import annotations

import asyncio
import email
import socket
import uuid
from collections.abc import AsyncIterator
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from portal.db.session import unit_of_work
from portal.members.mail import parse_smtp_url
from portal.members.schemas import InvitationOut
from tests.support.api import new_tenant
from tests.support.env import make_settings
from tests.support.factories import SYSTEM
from tests.support.rows import tenant_row
from tests.support.servers import closed_port


class Sink:
    """Keeps every message it is handed; `received` is set when one arrives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.logins: list[str] = []
        self.received = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        self.loop.call_soon_threadsafe(self.received.set)
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret pass"
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def smtp_sink() -> AsyncIterator[tuple[Sink, int]]:
    sink = Sink()
    port = _free_port()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        authenticator=sink.authenticate,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


async def test_the_link_is_mailed_and_not_shown(app, api, tmp_path, smtp_sink):
    from portal.members import invitations as services

    sink, port = smtp_sink
    settings = make_settings(
        tmp_path,
        SMTP_URL=f"smtp://mailer%40example.com:s3cret%20pass@127.0.0.1:{port}",
        SMTP_FROM="portal@example.com",
    )
    tenant = await tenant_row(app, (await new_tenant(api, name="Mailed Co"))["id"])
    async with unit_of_work(app.state.portal.sessions) as db:
        issued = await services.invite(db, settings, SYSTEM, tenant, email="bob@example.com", role="admin")
    assert issued.mailed and issued.mail_problem is None
    await asyncio.wait_for(sink.received.wait(), 10)
    [message] = sink.messages
    assert message["To"] == "bob@example.com" and message["From"] == "portal@example.com"
    assert "Mailed Co" in message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert issued.link in body and "as admin" in body
    assert sink.logins == ["mailer@example.com"]
    # The API answer leaves the link out when it was mailed.
    assert InvitationOut.issued(issued).link is None


async def test_a_failing_mail_server_leaves_the_link_to_pass_on(app, api, tmp_path):
    from portal.members import invitations as services

    settings = make_settings(tmp_path, SMTP_URL=f"smtp://127.0.0.1:{closed_port()}")
    tenant = await tenant_row(app, (await new_tenant(api))["id"])
    async with unit_of_work(app.state.portal.sessions) as db:
        issued = await services.invite(
            db, settings, SYSTEM, tenant, email=f"{uuid.uuid4().hex[:6]}@example.com", role="member"
        )
    assert not issued.mailed and "127.0.0.1" in issued.mail_problem
    assert InvitationOut.issued(issued).link == issued.link


def test_smtp_url_forms() -> None:
    plain = parse_smtp_url("smtp://mail.example.com")
    assert (plain.host, plain.port, plain.username, plain.use_ssl, plain.starttls) == (
        "mail.example.com",
        25,
        None,
        False,
        False,
    )
    tls = parse_smtp_url("smtp://u%40x.org:p%3Aw@mail.example.com:587?starttls=true")
    assert (tls.port, tls.username, tls.password, tls.starttls) == (587, "u@x.org", "p:w", True)
    assert "p:w" not in repr(tls)
    implicit = parse_smtp_url("smtps://mail.example.com")
    assert implicit.use_ssl and implicit.port == 465


def test_bad_smtp_settings_are_refused(tmp_path) -> None:
    from portal.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, SMTP_URL="http://mail.example.com", INVITATION_TTL_DAYS="0")
    problems = "\n".join(caught.value.problems)
    assert "SMTP_URL" in problems and "INVITATION_TTL_DAYS" in problems
    assert make_settings(tmp_path, INVITATION_TTL_DAYS="2").invitation_ttl_days == 2
