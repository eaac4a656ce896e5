"""Structured JSON log lines, one object per line, so CloudWatch Logs Insights can query them."""

from __future__ import annotations

import json
import logging
import sys

LOGGER_NAME = "image_label_search"

# Attributes every LogRecord has; anything else was passed through ``extra`` and is logged.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"level": record.levelname, "message": record.getMessage()}
        line.update(
            (name, value)
            for name, value in record.__dict__.items()
            if name not in _STANDARD_ATTRIBUTES
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        text = json.dumps(line, default=str, ensure_ascii=False)
        # A hostile message can carry a lone surrogate (a "\ud800" JSON escape), which no
        # stream can write as UTF-8: it is kept as its escape, so the evidence line survives.
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def get_logger(level: str = "INFO") -> logging.Logger:
    """The project's logger, writing JSON lines to stdout (Lambda ships stdout to CloudWatch)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        # Lambda's runtime installs a root handler; without this every line is printed twice.
        logger.propagate = False
    logger.setLevel(level)
    return logger
