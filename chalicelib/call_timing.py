"""How long one image's Rekognition calls took, for the RekognitionLatency metric.

A wall clock around the labeler also counts the waits for a rate token (seconds per call in a
flood: chalicelib/rate.py) and botocore's sleeps between retries, which are not Rekognition's
latency. ``AttemptTimer`` adds up only the HTTP attempts: from botocore's ``before-send``
(registered last, so after the rate limiter has waited for its token) to ``response-received``,
which botocore emits after every attempt, failed ones included (botocore/endpoint.py
``_get_response``). Both timers count per thread: the ingestor's pool labels images side by
side, one per worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class WallTimer:
    """Wall time from ``reset()`` to ``seconds()`` on this thread: for a labeler whose calls
    are not botocore's (tests, stand-ins)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self._clock = clock
        self._local = threading.local()

    def reset(self) -> None:
        self._local.started = self._clock()

    def seconds(self) -> float:
        return self._clock() - self._local.started


class AttemptTimer(WallTimer):
    """Seconds this thread spent in a client's HTTP attempts since ``reset()``."""

    def attach(self, client) -> AttemptTimer:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_last(f"before-send.{service}", self._attempt_started)
        client.meta.events.register_last(f"response-received.{service}", self._attempt_ended)
        return self

    def reset(self) -> None:
        self._local.total, self._local.started = 0.0, None

    def seconds(self) -> float:
        return getattr(self._local, "total", 0.0)

    def _attempt_started(self, **kwargs) -> None:
        self._local.started = self._clock()
        # Returning None lets botocore send the request.

    def _attempt_ended(self, **kwargs) -> None:
        started = getattr(self._local, "started", None)
        if started is not None:
            self._local.total = self.seconds() + self._clock() - started
            self._local.started = None
