"""One round of work, again and again in a daemon thread, until stopped: the local stack's
stand-ins for AWS's own background loops (localdev/feeder.py, localdev/poller.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

RETRY_SECONDS = 1.0  # after a round that raised: the error is logged, the loop goes on


class BackgroundLoop:
    def __init__(
        self,
        one_round: Callable[[], int],
        *,
        name: str,
        log: logging.Logger,
        failure: str,
        idle_seconds: float = 0,
    ):
        """``one_round`` returns how much it did; after a round that did nothing the loop waits
        ``idle_seconds``. A round that raises is logged as ``failure`` and retried."""
        self._one_round = one_round
        self._name = name
        self._log = log
        self._failure = failure
        self._idle_seconds = idle_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        """Set once a stop is requested: a long round checks it to end early."""
        return self._stop.is_set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Stop after the current round, without waiting (``stop()`` waits)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._one_round() and self._idle_seconds:
                    self._stop.wait(self._idle_seconds)
            except Exception:
                self._log.exception(self._failure)
                self._stop.wait(RETRY_SECONDS)
