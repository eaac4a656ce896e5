"""How fast ingestion may call Rekognition, derived from the account's quota (REKOGNITION_TPS).

Lambda runs at most ``maximum_concurrency`` (M) invocations of the indexer at once, and each
execution environment runs one invocation at a time. A token bucket per environment, refilled
at Q / M calls per second for a quota of Q, therefore keeps all of them together at or under Q
however many messages are waiting. Each HTTP attempt takes a token, botocore's retries
included, so retries cannot push past the quota either.

M is chosen so that the quota, not Rekognition's latency, bounds the flood. An environment with
C calls in flight, each taking about L seconds, makes at most C / L calls per second; the M
environments together must be able to make more than Q, with headroom H for the part of each
invocation that calls nothing (receiving the batch, reading the stored state, writing it):

    M = clamp(ceil(H * Q * L / C), 2, 1000)    Lambda's ScalingConfig accepts 2 to 1000
    r = Q / M                                  calls per second per environment
    b = max(1, r * BURST_SECONDS)              tokens an idle environment may save up

with C = min(REKOGNITION_CONCURRENCY, BATCH_SIZE) (more threads than messages never run),
L = ``CALL_SECONDS`` and H = ``HEADROOM``. The burst lets an invocation catch up on the tokens
it could not use while it waited for its batch's last answer (L) and wrote the batch: without
it each environment idles for that part of every batch and the flood stays below Q. The M
buckets together save at most Q * BURST_SECONDS tokens, one second of the quota.

C is the stage's setting, not derived from Q: the bucket holds an environment to r whatever C
is, and M already grows until the M * C calls in flight can carry Q, so a second derived knob
would only trade threads for environments.

A full batch takes about ``full_batch_seconds`` = BATCH_SIZE / r + L once its environment's
bucket is empty (a flood); preflight refuses a stage where that exceeds 80% of the indexer's
timeout (localdev/aws/preflight.py), since a batch cut off by the timeout is retried whole.

The quota is Service Quotas' figure for each Detect* operation the function calls (each
operation has its own): one bucket per operation, each at r.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.settings import Settings

# Lambda's documented bounds for ScalingConfig.MaximumConcurrency on an SQS event source.
MIN_MAXIMUM_CONCURRENCY, MAX_MAXIMUM_CONCURRENCY = 2, 1000
# A DetectLabels call on an S3 object takes a few hundred milliseconds; 0.5 s sizes M for the
# slower end. A faster service only means the buckets, not the latency, set the pace.
CALL_SECONDS = 0.5
# Twice the environments that latency alone needs: each spends part of its time not calling.
HEADROOM = 2.0
# One second of tokens: covers the wait for a batch's last answer (CALL_SECONDS) and the
# receive-and-write gap between batches (tens of milliseconds).
BURST_SECONDS = 1.0


@dataclass(frozen=True)
class IngestionRate:
    """What REKOGNITION_TPS means for the event source and for each execution environment."""

    quota_tps: float
    maximum_concurrency: int
    concurrency: int
    calls_per_second: float
    burst: float


def ingestion_rate(settings: Settings) -> IngestionRate | None:
    """The derived rate, or None when the stage sets no quota (no bound, as before)."""
    if settings.rekognition_tps is None:
        return None
    return derive(settings.rekognition_tps, settings.rekognition_concurrency, settings.batch_size)


def derive(quota: float, rekognition_concurrency: int, batch_size: int) -> IngestionRate:
    """The module docstring's formulas for a quota of ``quota`` calls per second."""
    concurrency = min(rekognition_concurrency, batch_size)
    needed = math.ceil(HEADROOM * quota * CALL_SECONDS / concurrency)
    maximum_concurrency = min(MAX_MAXIMUM_CONCURRENCY, max(MIN_MAXIMUM_CONCURRENCY, needed))
    calls_per_second = quota / maximum_concurrency
    return IngestionRate(
        quota_tps=quota,
        maximum_concurrency=maximum_concurrency,
        concurrency=concurrency,
        calls_per_second=calls_per_second,
        burst=max(1.0, calls_per_second * BURST_SECONDS),
    )


def full_batch_seconds(rate: IngestionRate, batch_size: int) -> float:
    """How long a full batch takes at the environment's rate, its last answer included."""
    return batch_size / rate.calls_per_second + CALL_SECONDS


def maximum_concurrency(settings: Settings) -> int | None:
    """For ``on_sqs_message(maximum_concurrency=...)``: None leaves the mapping unbounded."""
    rate = ingestion_rate(settings)
    return rate.maximum_concurrency if rate else None


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved; ``take()`` blocks for one.

    Thread-safe: the ingestor's pool calls it from every worker. The clock and the sleep are
    injectable so that tests run on a fake clock."""

    def __init__(
        self,
        rate: float,
        capacity: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one token, waiting until it is due; returns the seconds waited.

        A token not yet there is reserved (the count goes below zero) and waited for, so
        callers are served in the order they asked, each waiting once."""
        with self._lock:
            self._refill()
            self._tokens -= 1
            wait = max(0.0, -self._tokens / self.rate)
        if wait:
            self._sleep(wait)
        return wait

    def try_take(self) -> bool:
        """Take one token if one is there now; never waits, never reserves."""
        with self._lock:
            self._refill()
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True

    def retune(self, rate: float, capacity: float) -> None:
        """Change the rate and the capacity from now on (the tokens saved so far stay)."""
        with self._lock:
            self._refill()
            self.rate, self.capacity = rate, capacity

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now


class CallRateLimiter:
    """One bucket per Rekognition operation, taken before every HTTP attempt (botocore's
    ``before-send`` event, which fires for each retry too, unlike ``before-call``)."""

    def __init__(self, rate: IngestionRate, bucket: Callable[..., TokenBucket] = TokenBucket):
        self._rate = rate
        self._new_bucket = bucket
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def attach(self, client) -> None:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-send.{service}", self._before_send)

    def bucket_for(self, operation: str) -> TokenBucket:
        with self._lock:
            if operation not in self._buckets:
                self._buckets[operation] = self._new_bucket(
                    self._rate.calls_per_second, self._rate.burst
                )
            return self._buckets[operation]

    def _before_send(self, request, **kwargs) -> None:
        # The event name is before-send.<service>.<Operation>.
        operation = kwargs.get("event_name", "").rsplit(".", 1)[-1]
        self.bucket_for(operation).take()
        # Returning None lets botocore send the request.
