"""Time under the test's control: the app's clock moved, and moments relative to now."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from litestar import Litestar

from portal.db.base import utcnow


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set(self, moment: datetime) -> None:
        self.now = moment


@contextmanager
def moved_clock(app: Litestar, start: datetime | None = None) -> Iterator[FakeClock]:
    """The app's clock (keys, grace, expiry, periods, usage times) under the test's control."""
    hotpath = app.state.hotpath
    clock = FakeClock(start or utcnow())
    previous = hotpath.clock
    hotpath.clock = clock
    try:
        yield clock
    finally:
        hotpath.clock = previous


def ago(**delta: float) -> datetime:
    return utcnow() - timedelta(**delta)
