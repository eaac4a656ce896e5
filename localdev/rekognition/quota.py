"""An optional TPS quota for the local endpoint, refused as Rekognition refuses it.

Rekognition has a transactions-per-second quota per account, region and operation (Service
Quotas). A call over it is answered with ``ProvisionedThroughputExceededException`` (HTTP 400:
"The number of requests exceeded your throughput limit", botocore's Rekognition model names it
among DetectLabels' errors; the status is the developer guide's, "Error handling");
``ThrottlingException`` (HTTP 500 there) is the service's own "temporarily unable to process
the request" and can be chosen instead. Both bodies have the form of every Rekognition error
(``__type``, ``Code``, ``Message``, ``Logref``: server.error_body), and both codes are in
botocore's throttling list, so clients back off and retry as they would against AWS.

AWS does not document how it measures a second; this model is a token bucket per operation
(chalicelib.rate.TokenBucket, the function's own) refilled at ``tps`` with one second's worth
(``tps`` tokens) of burst. A call is answered at once either way: it never waits for a token
(``try_take``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from chalicelib.rate import TokenBucket

from .errors import RekognitionError

BURST_SECONDS = 1.0


class ProvisionedThroughputExceededException(RekognitionError):
    code = "ProvisionedThroughputExceededException"
    status = 400


class ThrottlingException(RekognitionError):
    code = "ThrottlingException"
    status = 500


THROTTLING_ANSWERS = {
    error.code: error for error in (ProvisionedThroughputExceededException, ThrottlingException)
}


class TpsQuota:
    """``admit(operation)`` takes a token or raises the throttling error; counts both."""

    def __init__(
        self,
        tps: float,
        answer: str = ProvisionedThroughputExceededException.code,
        clock: Callable[[], float] = time.monotonic,
    ):
        if tps <= 0:
            raise ValueError(f"a TPS quota must be positive, got {tps}")
        self.tps, self.capacity = tps, tps * BURST_SECONDS
        self._answer = THROTTLING_ANSWERS[answer]
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self.admitted: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()

    def set_tps(self, tps: float) -> None:
        """Change the quota while serving, as a Service Quotas increase does."""
        with self._lock:
            self.tps, self.capacity = tps, tps * BURST_SECONDS
            for bucket in self._buckets.values():
                bucket.retune(self.tps, self.capacity)

    def admit(self, operation: str) -> None:
        with self._lock:
            bucket = self._buckets.get(operation)
            if bucket is None:
                bucket = TokenBucket(self.tps, self.capacity, clock=self._clock)
                self._buckets[operation] = bucket
            admitted = bucket.try_take()
            (self.admitted if admitted else self.throttled)[operation] += 1
        if not admitted:
            raise self._answer(
                "Provisioned rate exceeded"
                if self._answer is ProvisionedThroughputExceededException
                else "Rate exceeded"
            )
