"""Sending invitation e-mails through the SMTP server named by SMTP_URL (stdlib smtplib, in a thread)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from portal.config import Settings

SMTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None = None
    use_ssl: bool = False  # smtps:// (implicit TLS)
    starttls: bool = False  # smtp://…?starttls=true

    def __repr__(self) -> str:  # never print the password
        return f"SmtpServer({self.host}:{self.port}, user={self.username!r}, ssl={self.use_ssl})"


def parse_smtp_url(url: str) -> SmtpServer:
    parts = urlsplit(url)
    options = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
    use_ssl = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname or "localhost",
        port=parts.port or (465 if use_ssl else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_ssl=use_ssl,
        starttls=options.get("starttls") in {"1", "true", "yes", "on"},
    )


@dataclass(frozen=True)
class Invite:
    to: str
    tenant_name: str
    role: str
    link: str
    inviter: str
    expires: str


def _message(settings: Settings, invite: Invite) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = invite.to
    message["Subject"] = f"You are invited to {invite.tenant_name} on the LLM credentials portal"
    message.set_content(
        f"{invite.inviter} invited you to {invite.tenant_name} as {invite.role}.\n\n"
        f"Open this link and sign in with {invite.tenant_name}'s identity provider to accept:\n\n"
        f"  {invite.link}\n\n"
        f"The link works once and expires on {invite.expires}.\n"
        "If you did not expect this invitation, ignore this e-mail.\n"
    )
    return message


def _send(server: SmtpServer, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if server.use_ssl:
        client = smtplib.SMTP_SSL(server.host, server.port, timeout=SMTP_TIMEOUT, context=context)
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT)
    with client:
        if server.starttls:
            client.starttls(context=context)
        if server.username:
            client.login(server.username, server.password or "")
        client.send_message(message)


async def send_invitation(settings: Settings, invite: Invite) -> str | None:
    """Mail the invitation; None when sent, else why not (the caller then shows the link)."""
    if not settings.smtp_url:
        return "no mail server is configured (SMTP_URL)"
    server = parse_smtp_url(settings.smtp_url)
    try:
        await asyncio.to_thread(_send, server, _message(settings, invite))
    except (OSError, smtplib.SMTPException) as exc:
        # The reason names the server's answer, never the password.
        return f"the mail server {server.host}:{server.port} refused or failed: {type(exc).__name__}"
    return None
