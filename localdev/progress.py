"""A dependency-free progress bar for the command line tools."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
WIDTH = 30


def progress(items: Iterable[T], total: int, label: str, stream=None) -> Iterator[T]:
    """Yield ``items`` while drawing ``label [#####.....] n/total`` on one line."""
    stream = stream or sys.stderr
    done = 0

    def draw() -> None:
        filled = WIDTH * done // total if total else WIDTH
        bar = "#" * filled + "." * (WIDTH - filled)
        stream.write(f"\r{label} [{bar}] {done}/{total}")
        stream.flush()

    draw()
    try:
        for item in items:
            yield item
            done += 1
            draw()
    finally:  # an error message after the bar starts on a line of its own
        stream.write("\n")
