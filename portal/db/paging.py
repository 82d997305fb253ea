from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
MAX_PER_PAGE = 200
# The offset (page - 1) * per_page must stay far inside a 64-bit integer.
MAX_PAGE = 1_000_000


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
