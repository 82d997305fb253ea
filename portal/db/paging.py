"""Listing once: pages of a query, and text search that treats % and _ as the letters they are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
MAX_PER_PAGE = 200
# The offset (page - 1) * per_page must stay far inside a 64-bit integer.
MAX_PAGE = 1_000_000
LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def clamp_paging(page: int, per_page: int) -> tuple[int, int]:
    return min(max(1, page), MAX_PAGE), min(max(1, per_page), MAX_PER_PAGE)


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def starts_with(column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive prefix match; `text` is matched literally."""
    return func.lower(column).like(escape_like(text.lower()) + "%", escape=LIKE_ESCAPE)


def contains_any(text: str, *columns: Any) -> ColumnElement[bool]:
    """Case-insensitive: one of the columns contains `text`, matched literally (a search for "50%"
    finds "50%", not everything)."""
    pattern = "%" + escape_like(text.strip().lower()) + "%"
    return or_(*(func.lower(column).like(pattern, escape=LIKE_ESCAPE) for column in columns))


async def paginate(
    db: AsyncSession, query: Select[Any], *, page: int, per_page: int, order_by: tuple[Any, ...]
) -> Page[Any]:
    """One page of `query` in the given order, with the total count of the whole query."""
    page, per_page = clamp_paging(page, per_page)
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db.scalars(query.order_by(*order_by).offset((page - 1) * per_page).limit(per_page))
    return Page(list(rows), total, page, per_page)
