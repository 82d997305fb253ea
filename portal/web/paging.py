"""The paging query parameters, bounded: a page beyond MAX_PAGE or a size beyond MAX_PER_PAGE is
a 400 naming the parameter, never an integer overflow in the database."""

from __future__ import annotations

from typing import Any

from litestar.params import Parameter

from portal.db.paging import MAX_PAGE, MAX_PER_PAGE


def page_parameter() -> Any:
    return Parameter(default=1, ge=1, le=MAX_PAGE, description=f"Page number, 1 to {MAX_PAGE}")


def per_page_parameter(default: int = 50) -> Any:
    return Parameter(
        default=default, ge=1, le=MAX_PER_PAGE, description=f"Items per page, 1 to {MAX_PER_PAGE}"
    )
