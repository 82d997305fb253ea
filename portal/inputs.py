"""The base of every JSON request body: text never holds a NUL character.

PostgreSQL text cannot store U+0000 (the driver fails, which was a 500), and SQLite would store what
PostgreSQL refuses. Refusing it where input is decoded keeps both databases alike and names the field.
"""

from __future__ import annotations

from typing import Any

import msgspec

NUL_PROBLEM = "must not contain NUL characters (\\u0000); remove them"


def nul_at(value: Any, where: str = "") -> str | None:
    """Where in `value` (strings, lists, dicts and bodies nested) a NUL character is; None when nowhere."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                return f"{where} (a key)" if where else "a key"
            if (found := nul_at(item, f"{where}.{key}" if where else str(key))) is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found := nul_at(item, f"{where}[{index}]")) is not None:
                return found
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            if (found := nul_at(getattr(value, name), f"{where}.{name}" if where else name)) is not None:
                return found
    return None


class Input(msgspec.Struct, forbid_unknown_fields=True):
    """A request body: unknown fields and NUL characters are refused (400, naming the field)."""

    def __post_init__(self) -> None:
        if (where := nul_at(self)) is not None:
            raise ValueError(f"{where}: {NUL_PROBLEM}")
