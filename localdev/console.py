"""Each image's outcome on the console of `make run`, as the function logs it.

The function writes one JSON line per outcome (chalicelib/ingest.py), made for CloudWatch Logs
Insights. On a terminal a person wants a short line per image instead: indexed with its top
labels, skipped or failed with the reason. Other log lines keep their JSON form.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from chalicelib.logs import LOGGER_NAME, JsonFormatter

TOP_LABELS = 5


class OutcomeConsole(logging.Handler):
    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self._json = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.line(record)
        if line is None:
            return
        # logging.Handler.handle holds this handler's lock here: lines never interleave.
        self.stream.write(line + "\n")
        self.stream.flush()

    def line(self, record: logging.LogRecord) -> str | None:
        outcome = getattr(record, "outcome", None)
        if outcome is None:
            return self._json.format(record)
        key = getattr(record, "key", None)
        reason = getattr(record, "reason", None) or ""
        if key is None:
            # A message without objects (the bucket's s3:TestEvent): nothing anyone uploaded.
            if outcome == "skipped":
                return None
            return f"  {outcome:<8} message {getattr(record, 'message_id', '?')}: {reason}"
        labels = getattr(record, "labels", None) or []
        detail = reason
        if outcome == "indexed":
            detail = ", ".join(labels[:TOP_LABELS]) or "no label at or above MIN_CONFIDENCE"
        return f"  {outcome:<8} {key}" + (f"  {detail}" if detail else "")


@contextlib.contextmanager
def outcomes_on(stream) -> Iterator[OutcomeConsole]:
    """Route the function's logger to ``stream`` while the block runs, then restore it.

    get_logger() adds its JSON handler only to a logger without handlers, so the function
    keeps this one when it builds its logger."""
    logger = logging.getLogger(LOGGER_NAME)
    saved = (list(logger.handlers), logger.propagate)
    console = OutcomeConsole(stream)
    for handler in saved[0]:
        logger.removeHandler(handler)
    logger.addHandler(console)
    logger.propagate = False
    try:
        yield console
    finally:
        logger.removeHandler(console)
        for handler in saved[0]:
            logger.addHandler(handler)
        logger.propagate = saved[1]
