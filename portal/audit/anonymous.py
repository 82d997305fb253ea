"""Refusals that name no real account (an unknown e-mail, an unknown API key, a throttled attempt,
a sign-in answer nobody started) are counted, not audited one row each: an anonymous storm must not
flood the audit log. The counts go to the log, at most one line a minute."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("portal.refusals")

EVERY_SECONDS = 60.0


class RefusalTally:
    def __init__(self, every: float = EVERY_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self.since = clock()
        self.last_line: float | None = None

    def note(self, what: str) -> None:
        """Count one refusal, e.g. "sign_in: unknown account"; log the counts if a minute has passed."""
        self.counts[what] += 1
        if self.last_line is None or self.clock() - self.last_line >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.counts:
            return
        now = self.clock()
        summary = ", ".join(f"{what}: {count}" for what, count in sorted(self.counts.items()))
        log.warning("anonymous refusals in the last %d s: %s", max(1, round(now - self.since)), summary)
        self.counts.clear()
        self.since = self.last_line = now


TALLY = RefusalTally()


def note(what: str) -> None:
    TALLY.note(what)


def flush() -> None:
    TALLY.flush()
