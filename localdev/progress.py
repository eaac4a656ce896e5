"""A dependency-free progress bar for the command line tools, with rate and ETA.

    backfill [#######.......................] 12,340/100,000  412/s  ETA 0:03:31  photos/x.jpg

The total may arrive late (backfill counts it beside the sending): until then the bar shows the
count and the rate only. Redrawn at most twice a second, which is enough to read and costs
nothing at 1,000 items a second; the last update (done == total) is always drawn.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Generator, Iterable
from datetime import timedelta
from typing import TextIO, TypeVar

T = TypeVar("T")
WIDTH = 30
REDRAW_SECONDS = 0.5


class ProgressBar:
    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        clock=time.monotonic,
    ):
        self._label = label
        self.total = total  # may be set later, by a counting pass: the bar and ETA appear then
        self._stream = stream or sys.stderr
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self._drawn = False

    def update(self, done: int, note: str | None = None) -> None:
        now = self._clock()
        finished = self.total is not None and done >= self.total
        if self._drawn_at is not None and now - self._drawn_at < REDRAW_SECONDS and not finished:
            return
        self._drawn_at = now
        self._stream.write(f"\r{self.render(done, note, now - self._started)}")
        self._stream.flush()
        self._drawn = True

    def render(self, done: int, note: str | None, elapsed: float) -> str:
        rate = done / elapsed if elapsed > 0 else 0.0
        if self.total is None:
            parts = [f"{self._label} {done:,}"]
        else:
            filled = min(WIDTH, WIDTH * done // self.total) if self.total else WIDTH
            bar = "#" * filled + "." * (WIDTH - filled)
            parts = [f"{self._label} [{bar}] {done:,}/{self.total:,}"]
        if rate > 0:  # nothing done yet: no rate to show
            parts.append(f"{rate:,.0f}/s")
        if self.total and rate > 0:
            remaining = max(0, self.total - done) / rate
            parts.append(f"ETA {timedelta(seconds=round(remaining))}")
        if note:
            parts.append(note)
        return "  ".join(parts)

    def close(self) -> None:
        if self._drawn:  # an error or summary after the bar starts on a line of its own
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False


def progress(items: Iterable[T], total: int, label: str, stream=None) -> Generator[T, None, None]:
    """Yield ``items`` while drawing the bar for them."""
    bar = ProgressBar(label, total, stream)
    done = 0
    bar.update(done)
    try:
        for item in items:
            yield item
            done += 1
            bar.update(done)
    finally:
        bar.close()
