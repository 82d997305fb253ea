"""The paging query parameters, bounded: a page beyond MAX_PAGE or a size beyond MAX_PER_PAGE is
a 400 naming the parameter, never an integer overflow in the database.

A listing asks for `paging: Paged` (its page and size): an API's client chooses both (`PAGING`), a
page's size is fixed (`paging_of(per_page)`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypeAlias

from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from portal.db.paging import MAX_PAGE, MAX_PER_PAGE


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int


Paged: TypeAlias = NamedDependency[Paging]


PageNumber = Annotated[
    int, QueryParameter(name="page", ge=1, le=MAX_PAGE, description=f"Page number, 1 to {MAX_PAGE}")
]
"""The query string's `page` (named otherwise in a signature: a tenant page's context is `page`)."""
PerPage = Annotated[
    int,
    QueryParameter(
        name="per_page", ge=1, le=MAX_PER_PAGE, description=f"Items per page, 1 to {MAX_PER_PAGE}"
    ),
]


def provide_paging(page: PageNumber = 1, per_page: PerPage = 50) -> Paging:
    return Paging(page, per_page)


PAGING = {"paging": Provide(provide_paging, sync_to_thread=False)}


def paging_of(per_page: int) -> dict[str, Provide]:
    """A page's paging: the page number from the query string, `per_page` items each."""

    def provide_page_of(page: PageNumber = 1) -> Paging:
        return Paging(page, per_page)

    return {"paging": Provide(provide_page_of, sync_to_thread=False)}
