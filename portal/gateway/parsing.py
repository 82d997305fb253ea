"""The client's request body: decoded once, checked only as far as the gateway relies on it (the
provider checks the rest), every problem a 400 naming its parameter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from portal.gateway.errors import invalid
from portal.gateway.metering import MAX_CHOICES

MODEL_MAX = 300
CAP_PARAMS = ("max_completion_tokens", "max_tokens")


@dataclass(frozen=True, slots=True)
class Parsed:
    body: dict[str, Any]  # forwarded, with the model, the output cap and stream_options adjusted
    model: str
    chat: bool
    stream: bool
    client_wants_usage: bool
    requested_cap: int | None
    choices: int


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise invalid("body", f"not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    return body


def _positive(body: dict[str, Any], name: str, most: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < 1
        or (most is not None and value > most)
    ):
        raise invalid(name, "a whole number, 1 or more" + (f" and at most {most}" if most else ""))
    return value


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid("model", "required: provider/model, e.g. openai/gpt-4o-mini (see GET /v1/models)")
    if len(model) > MODEL_MAX:
        raise invalid("model", f"at most {MODEL_MAX} characters")
    return model.strip()


def parse_chat(raw: bytes) -> Parsed:
    body = _object(raw)
    model = _model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages", "required: a non-empty list of messages")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise invalid("stream", "true or false")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise invalid("stream_options", 'an object, e.g. {"include_usage": true}')
    caps = [cap for cap in (_positive(body, name) for name in CAP_PARAMS) if cap is not None]
    return Parsed(
        body=body,
        model=model,
        chat=True,
        stream=bool(stream),
        client_wants_usage=bool(options and options.get("include_usage") is True),
        requested_cap=min(caps) if caps else None,
        choices=_positive(body, "n", MAX_CHOICES) or 1,
    )


def _embedding_input(value: Any) -> bool:
    """A string, or a non-empty list of strings, of token ids, or of lists of token ids."""
    if isinstance(value, str):
        return bool(value)
    if not isinstance(value, list) or not value:
        return False
    return all(isinstance(v, str | int | list) and not isinstance(v, bool) for v in value)


def parse_embeddings(raw: bytes) -> Parsed:
    body = _object(raw)
    model = _model(body)
    if not _embedding_input(body.get("input")):
        raise invalid("input", "required: a string or a non-empty list of strings or token ids")
    return Parsed(
        body=body,
        model=model,
        chat=False,
        stream=False,
        client_wants_usage=False,
        requested_cap=None,
        choices=1,
    )
