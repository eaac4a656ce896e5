"""REKOGNITION_TPS: the derived event source concurrency and call rate, and the token bucket
that holds every HTTP attempt (retries too) to it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.retries import standard

from chalicelib import rate
from chalicelib.settings import ConfigurationError, Settings


def settings(**environ) -> Settings:
    return Settings.from_environ(environ)


def test_unset_quota_changes_nothing():
    unset = settings()
    assert unset.rekognition_tps is None
    assert rate.ingestion_rate(unset) is None
    assert rate.maximum_concurrency(unset) is None
    assert unset.aws_retry_mode == "standard"


def test_a_quota_turns_on_adaptive_retries_unless_the_stage_chooses():
    assert settings(REKOGNITION_TPS="25").aws_retry_mode == "adaptive"
    assert settings(REKOGNITION_TPS="25", AWS_RETRY_MODE="standard").aws_retry_mode == "standard"


@pytest.mark.parametrize("value", ["0", "-5", "fast", "10001"])
def test_a_quota_outside_its_range_names_the_variable(value):
    with pytest.raises(ConfigurationError, match="REKOGNITION_TPS"):
        settings(REKOGNITION_TPS=value)


# The README's sizing table: (Q, batch size) -> (maximum concurrency, calls/s per environment).
SIZING = [
    (1, 10, 2, 0.5),
    (5, 10, 2, 2.5),
    (25, 10, 3, 25 / 3),
    (50, 10, 5, 10.0),
    (100, 10, 10, 10.0),
    (25, 1, 25, 1.0),
    (1000, 10, 100, 10.0),
    (10_000, 10, 1000, 10.0),
    (10_000, 1, 1000, 10.0),
]


@pytest.mark.parametrize(("quota", "batch", "concurrency", "per_environment"), SIZING)
def test_the_sizing_formula(quota, batch, concurrency, per_environment):
    derived = rate.ingestion_rate(settings(REKOGNITION_TPS=str(quota), BATCH_SIZE=str(batch)))
    assert derived.maximum_concurrency == concurrency
    assert derived.calls_per_second == pytest.approx(per_environment)
    # Together the environments never exceed the quota.
    assert derived.maximum_concurrency * derived.calls_per_second <= quota + 1e-9
    assert derived.concurrency == min(10, batch)
    assert derived.burst == max(1.0, per_environment * rate.BURST_SECONDS)


def test_maximum_concurrency_stays_in_lambdas_range():
    for quota in (1, 3, 7, 25, 333, 5000, 10_000):
        value = rate.maximum_concurrency(settings(REKOGNITION_TPS=str(quota), BATCH_SIZE="1"))
        assert rate.MIN_MAXIMUM_CONCURRENCY <= value <= rate.MAX_MAXIMUM_CONCURRENCY


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_token_bucket_spends_its_burst_then_paces_at_its_rate():
    clock = FakeClock()
    bucket = rate.TokenBucket(rate=4.0, capacity=2.0, clock=clock, sleep=clock.sleep)
    waits = [bucket.take() for _ in range(6)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2:] == [pytest.approx(0.25)] * 4
    assert clock.now == pytest.approx(101.0)  # 6 tokens = 2 saved + 4 at 4/s


def test_token_bucket_saves_no_more_than_its_capacity():
    clock = FakeClock()
    bucket = rate.TokenBucket(rate=10.0, capacity=3.0, clock=clock, sleep=clock.sleep)
    clock.now += 60  # a long idle time
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.1)


class RecordingBucket:
    def __init__(self, calls_per_second, capacity):
        self.calls_per_second, self.capacity, self.taken = calls_per_second, capacity, 0

    def take(self) -> float:
        self.taken += 1
        return 0.0


def _answer(status: int, body: bytes):
    """A before-send handler that answers instead of the network (registered after the
    limiter, so the limiter has run for this attempt)."""

    def send(request, **kwargs):
        return AWSResponse(request.url, status, {"x-amzn-RequestId": "r"}, _Raw(body))

    return send


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **kwargs):
        yield self._body


def test_every_http_attempt_takes_a_token_of_its_own_operation(monkeypatch):
    # botocore's own backoff between attempts, zero here so that the test takes no time.
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    client = boto3.client(
        "rekognition",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )
    derived = rate.ingestion_rate(settings(REKOGNITION_TPS="25"))
    limiter = rate.CallRateLimiter(derived, bucket=RecordingBucket)
    limiter.attach(client)
    throttled = (
        b'{"__type":"ProvisionedThroughputExceededException","Message":"Provisioned rate exceeded"}'
    )
    answers = iter([(400, throttled), (400, throttled), (200, b'{"Labels":[]}')])

    def network(request, **kwargs):
        status, body = next(answers)
        return _answer(status, body)(request)

    client.meta.events.register("before-send.rekognition", network)
    response = client.detect_labels(Image={"S3Object": {"Bucket": "photos", "Name": "k.jpg"}})
    assert response["Labels"] == []
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    labels = limiter.bucket_for("DetectLabels")
    assert labels.taken == 3  # two throttled attempts and the one that succeeded
    assert (labels.calls_per_second, labels.capacity) == (derived.calls_per_second, derived.burst)
    assert limiter.bucket_for("DetectFaces").taken == 0


@pytest.mark.parametrize(("quota", "expected"), [(None, None), ("25", 3), ("100", 10)])
def test_app_gives_the_event_source_the_derived_maximum_concurrency(monkeypatch, quota, expected):
    """app.py reads the stage's variables when chalice imports it (deploy and package both)."""
    if quota is None:
        monkeypatch.delenv("REKOGNITION_TPS", raising=False)
    else:
        monkeypatch.setenv("REKOGNITION_TPS", quota)
    path = Path(__file__).resolve().parents[2] / "app.py"
    spec = importlib.util.spec_from_file_location("app_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    [source] = [s for s in module.app.event_sources if s.handler_string.endswith("index_images")]
    assert source.maximum_concurrency == expected


def test_try_take_never_waits_and_never_reserves():
    clock = FakeClock()
    bucket = rate.TokenBucket(rate=2.0, capacity=1.0, clock=clock, sleep=clock.sleep)
    assert [bucket.try_take(), bucket.try_take()] == [True, False]
    clock.now += 0.25  # half a token: still not one
    assert bucket.try_take() is False
    clock.now += 0.25  # a refused try reserved nothing, so the token is whole now
    assert bucket.try_take() is True
    assert clock.sleeps == []


def test_retune_keeps_the_saved_tokens_and_refills_at_the_new_rate():
    clock = FakeClock()
    bucket = rate.TokenBucket(rate=1.0, capacity=1.0, clock=clock, sleep=clock.sleep)
    assert bucket.try_take() is True
    bucket.retune(rate=10.0, capacity=5.0)
    clock.now += 0.5  # five tokens at the new rate
    assert [bucket.try_take() for _ in range(6)] == [True] * 5 + [False]


@pytest.mark.parametrize(
    ("quota", "batch", "seconds"),
    [(25, 10, 10 / (25 / 3) + 0.5), (10, 1000, 1000 / 5 + 0.5), (1, 10, 20.5)],
)
def test_a_full_batch_takes_its_size_over_the_rate_plus_one_call(quota, batch, seconds):
    derived = rate.derive(quota, rekognition_concurrency=10, batch_size=batch)
    assert rate.full_batch_seconds(derived, batch) == pytest.approx(seconds)
