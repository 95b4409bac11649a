"""Progress lines for a log written to a file: at most one every ``every`` seconds,
where a terminal would show a progress bar (whose redrawn frames a file would keep as
noise). The clock is injectable, so tests need not wait."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def log_line(line: str) -> None:
    """One ``regbench:`` line on stderr, flushed, as the command's own log lines are."""
    print(f"regbench: {line}", file=sys.stderr, flush=True)


class Throttle:
    """``due()`` is true at most once every ``every`` seconds (first ``every`` seconds
    after it is made); ``elapsed`` is the time since it was made."""

    def __init__(self, every: float, clock: Callable[[], float] = time.perf_counter) -> None:
        self.every, self.clock = every, clock
        self.started = clock()
        self._next = self.started + every

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def due(self) -> bool:
        now = self.clock()
        if now < self._next:
            return False
        self._next = now + self.every
        return True


def time_left(elapsed: float, done: int, total: int) -> str:
    """``about 2 min left`` at the pace so far (``about 40 s left`` under two minutes)."""
    seconds = elapsed / max(done, 1) * (total - done)
    return f"about {seconds / 60:.0f} min left" if seconds >= 120 else f"about {seconds:.0f} s left"
