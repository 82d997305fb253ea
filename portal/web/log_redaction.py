"""Invitation tokens never reach a log line: the link `/invite/{token}` is a bearer credential.

Redaction happens where every log record is made (the record factory), so it covers uvicorn's
access log, the portal's own loggers and any library's, whichever handler later writes them. The
message and each string argument are redacted separately where that suffices: uvicorn's access
formatter unpacks the arguments (client, method, path, version, status) and must still find them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"
# The path segment after /invite/, also percent-encoded (a ?next=%2Finvite%2F… parameter).
INVITE_TOKEN = re.compile(r"(/invite/|%2[fF]invite%2[fF])[^\s/?#&\"'%]+")
_MARK = "_portal_redacts_invitations"


def redact(text: str) -> str:
    return INVITE_TOKEN.sub(rf"\1{REDACTED}", text) if "invite" in text else text


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def install() -> None:
    """Wrap the process's log record factory once (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        record.msg = _redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        if record.args and isinstance(record.msg, str) and "invite" in record.msg:
            # The token as an argument of its own ("/invite/%s"): redact the formatted message.
            message = record.getMessage()
            if (redacted := redact(message)) != message:
                record.msg, record.args = redacted, ()
        return record

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)
