"""RekognitionLatency counts Rekognition's HTTP attempts only: neither the wait for a rate token
(the limiter runs in the same before-send event) nor botocore's sleep between retries.

The network is a before-send handler that answers instead of sending (as in test_rate.py); a
fake clock moves only when the bucket waits, the network answers or botocore backs off, so the
figures are exact and the test takes no time."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.retries import standard

from chalicelib import rate
from chalicelib.call_timing import AttemptTimer, WallTimer
from chalicelib.settings import Settings
from tests.unit.test_rate import FakeClock, _answer

THROTTLED = (
    b'{"__type":"ProvisionedThroughputExceededException","Message":"Provisioned rate exceeded"}'
)
TOKEN_WAIT, ANSWER_SECONDS, BACKOFF_SECONDS = 5.0, 0.2, 3.0


class SlowBucket:
    """Every token takes TOKEN_WAIT seconds of the fake clock."""

    def __init__(self, clock: FakeClock):
        self._clock = clock

    def take(self) -> float:
        self._clock.now += TOKEN_WAIT
        return TOKEN_WAIT


def test_only_the_attempts_are_timed_not_the_token_waits_nor_the_backoff(monkeypatch):
    clock = FakeClock()

    def backoff(self, context):
        clock.now += BACKOFF_SECONDS  # botocore sleeps this long; the fake clock says so
        return 0

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", backoff)
    client = boto3.client(
        "rekognition",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )
    timer = AttemptTimer(clock=clock).attach(client)  # attached first, still timed after
    limiter = rate.CallRateLimiter(
        rate.ingestion_rate(Settings.from_environ({"REKOGNITION_TPS": "25"})),
        bucket=lambda *args: SlowBucket(clock),
    )
    limiter.attach(client)
    answers = iter([(400, THROTTLED), (200, b'{"Labels":[]}')])

    def network(request, **kwargs):
        clock.now += ANSWER_SECONDS
        status, body = next(answers)
        return _answer(status, body)(request)

    # The real network comes after every before-send handler: so does its stand-in.
    client.meta.events.register_last("before-send.rekognition", network)
    started = clock.now
    timer.reset()
    client.detect_labels(Image={"S3Object": {"Bucket": "photos", "Name": "k.jpg"}})
    assert timer.seconds() == pytest.approx(2 * ANSWER_SECONDS)
    # The wall clock saw two token waits and one backoff besides.
    assert clock.now - started == pytest.approx(2 * (TOKEN_WAIT + ANSWER_SECONDS) + BACKOFF_SECONDS)


def test_each_thread_counts_its_own_attempts_from_its_reset():
    clock = FakeClock()
    timer = AttemptTimer(clock=clock)
    timer.reset()
    timer._attempt_started()
    clock.now += 1.5
    timer._attempt_ended()
    assert timer.seconds() == pytest.approx(1.5)
    timer.reset()
    assert timer.seconds() == 0.0
    timer._attempt_ended()  # an end without a start (a stub answered) adds nothing
    assert timer.seconds() == 0.0


def test_the_wall_timer_for_labelers_that_are_not_botocore_clients():
    clock = FakeClock()
    timer = WallTimer(clock=clock)
    timer.reset()
    clock.now += 0.75
    assert timer.seconds() == pytest.approx(0.75)
