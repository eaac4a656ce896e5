"""Structured JSON log lines, one object per line, so CloudWatch Logs Insights can query them.

Every function logs through one logger (``LOGGER_NAME``) at ``LOG_LEVEL``, and every line of
an invocation carries its Lambda request id and function name: ``InvocationLogging`` is a
chalice middleware that binds them for the length of the invocation.

Why not aws-lambda-powertools' Logger and Metrics: measured with ``python -m bench.cold_start``
(its "aws-lambda-powertools==3.37.0 (not shipped)" tables, 9 interleaved runs), the library
takes the deployment package from 1.10 to 2.12 MB zipped and ``import app`` as chalice packages
it (no .pyc) from 1.26x to 1.46x ``import chalice, boto3``, over the issue's 1.3x bound (1.06x
to 1.27x precompiled). This module and chalicelib/metrics.py are what the functions need of it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

LOGGER_NAME = "image_label_search"

# Attributes every LogRecord has; anything else was passed through ``extra`` and is logged.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


# The Lambda invocation being served. Lambda runs one invocation at a time per execution
# environment, and the ingestor's Rekognition threads log on its behalf, so this is a plain
# module-level value rather than a ContextVar (which worker threads would not inherit).
_invocation: dict[str, str] = {}


def bind_invocation(lambda_context: Any) -> None:
    """Adds ``request_id`` and ``function_name`` from a Lambda context to every line from now."""
    fields = {
        "request_id": getattr(lambda_context, "aws_request_id", None),
        "function_name": getattr(lambda_context, "function_name", None),
    }
    clear_invocation()
    _invocation.update((name, value) for name, value in fields.items() if value)


def clear_invocation() -> None:
    _invocation.clear()


def invocation_fields() -> dict[str, str]:
    """The bound invocation's fields (chalicelib/metrics.py puts them on its EMF lines)."""
    return dict(_invocation)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            **_invocation,
        }
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


class _StdoutHandler(logging.StreamHandler):
    """Writes to ``sys.stdout`` as it is at each line, not as it was when the logger was built
    (a test's capture, chalice's local server and Lambda each may set their own)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _ignored) -> None:
        pass


def get_logger(level: str = "INFO") -> logging.Logger:
    """The project's logger, writing JSON lines to stdout (Lambda ships stdout to CloudWatch)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        # Lambda's runtime installs a root handler; without this every line is printed twice.
        logger.propagate = False
    logger.setLevel(level)
    return logger


class InvocationLogging:
    """Chalice middleware (``app.register_middleware``) for every event type.

    Configures the project's logger on the first invocation (``logger`` is called then, so
    LOG_LEVEL is read from the settings on first use, not at import) and binds the request id
    of each invocation: HTTP events carry the Lambda context as ``lambda_context``, the other
    event types as ``context``.
    """

    def __init__(self, logger: Callable[[], logging.Logger]):
        self._logger = logger

    def __call__(self, event: Any, get_response: Callable[[Any], Any]) -> Any:
        self._logger()
        context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
        bind_invocation(context)
        try:
            return get_response(event)
        finally:
            clear_invocation()


def use_json_logs(app: Any, logger: Callable[[], logging.Logger]) -> None:
    """Every line of every function of ``app`` through the project's logger, chalice's own
    included: its "Caught exception for path ..." error goes to ``app.log``, which is otherwise
    a plain-text logger named after the app (create the app with ``configure_logs=False``)."""
    app.log = logging.getLogger(LOGGER_NAME)
    app.register_middleware(InvocationLogging(logger), "all")
