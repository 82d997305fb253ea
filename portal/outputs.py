"""Answers and entries made from a row or a view: each field is read from the attribute of the same
name, and only what differs is written out (`copied(ApiKeyOut, key, display=view.display, ...)`)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def copied(cls: type[T], source: object, /, **values: Any) -> T:
    """A `cls` (a msgspec struct or a dataclass) with `values`, and every other field read from the
    attribute of `source` with its name."""
    names = getattr(cls, "__struct_fields__", None) or [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: values[name] if name in values else getattr(source, name) for name in names})
