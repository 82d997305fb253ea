"""Reading HTML form posts."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from litestar.enums import RequestEncodingType
from litestar.params import Body

T = TypeVar("T")
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
Form = Annotated[T, FORM]
"""`data: Form[SomeStruct]`: a form post bound to a typed struct (every field with a default: a
browser leaves empty and unticked fields out)."""
FormData = Form[dict[str, Any]]


def text(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value)


def safe_next(url: str | None, default: str) -> str:
    """Only same-site relative paths: never an open redirect."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return default
