"""The batch contract: exactly the messages that must be retried are reported, nothing else."""

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from chalicelib.documents import image_id
from chalicelib.ingest import BatchIngestor
from chalicelib.rekognition import UnprocessableImage
from chalicelib.store.base import FAILED, STALE, WRITTEN, StoreUnavailable, WriteResult
from chalicelib.vocabulary import ImageAnalysis
from tests.samples import s3_event_body, sqs_record


class FakeLabeler:
    """Labels every image 'Thing' unless told to fail for a key."""

    def __init__(self, errors=None):
        self.errors = errors or {}
        self.calls = []

    def analyze(self, bucket, key, version_id=None):
        self.calls.append((bucket, key, version_id))
        if key in self.errors:
            raise self.errors[key]
        return ImageAnalysis(
            labels=[
                {
                    "name": "Thing",
                    "confidence": 90.0,
                    "parents": [],
                    "aliases": [],
                    "categories": [],
                    "instances": [],
                }
            ],
            label_model_version="3.0",
        )


class FakeStore:
    """Records writes; answers WRITTEN unless a result is configured for a key."""

    def __init__(self, results_by_key=None, stored=None, unavailable=False):
        self.results_by_key = results_by_key or {}
        self.stored = stored or {}
        self.unavailable = unavailable
        self.writes = []

    def stored_positions(self, image_ids):
        if self.unavailable:
            raise StoreUnavailable("ConnectionError: refused")
        return {i: self.stored[i] for i in image_ids if i in self.stored}

    def write(self, writes):
        self.writes.extend(writes)
        return [
            self.results_by_key.get(write.document["key"], WriteResult(WRITTEN)) for write in writes
        ]


@pytest.fixture
def logger():
    return logging.getLogger("test-ingest")


def ingestor(labeler, store, logger):
    return BatchIngestor(
        labeler=labeler,
        store=store,
        executor=ThreadPoolExecutor(4),
        region="us-east-1",
        logger=logger,
        clock=lambda: datetime(2026, 11, 27, tzinfo=UTC),
    )


def outcomes(caplog):
    return [(r.outcome, getattr(r, "key", None), r.message_id) for r in caplog.records]


def test_mixed_batch_reports_only_the_malformed_message(logger, caplog):
    labeler, store = FakeLabeler(), FakeStore()
    records = [
        sqs_record("m-create", s3_event_body("ObjectCreated:Put", "dog.jpg")),
        sqs_record("m-delete", s3_event_body("ObjectRemoved:Delete", "old.jpg")),
        sqs_record("m-test", json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})),
        sqs_record("m-garbage", "this is not json"),
    ]
    with caplog.at_level(logging.INFO, logger="test-ingest"):
        failed = ingestor(labeler, store, logger).process(records)

    assert failed == ["m-garbage"]
    assert labeler.calls == [("photos", "dog.jpg", None)]
    assert [(w.document["key"], w.document["deleted"]) for w in store.writes] == [
        ("dog.jpg", False),
        ("old.jpg", True),
    ]
    assert store.writes[0].image_id == image_id("photos", "dog.jpg")
    assert sorted(outcomes(caplog)) == sorted(
        [
            ("indexed", "dog.jpg", "m-create"),
            ("deleted", "old.jpg", "m-delete"),
            ("skipped", None, "m-test"),
            ("failed", None, "m-garbage"),
        ]
    )
    garbage = next(r for r in caplog.records if r.message_id == "m-garbage")
    assert garbage.reason.startswith("malformed message")


@pytest.mark.parametrize(
    ("key", "size", "reason"),
    [
        ("notes.txt", 10, "not a JPEG or PNG"),
        ("clip.MP4", 10, "not a JPEG or PNG"),
        ("empty.jpg", 0, "empty object"),
        ("huge.png", 15 * 1024 * 1024 + 1, "larger than Rekognition"),
    ],
)
def test_objects_rekognition_cannot_take_are_skipped_without_a_call(
    logger, caplog, key, size, reason
):
    labeler, store = FakeLabeler(), FakeStore()
    with caplog.at_level(logging.INFO, logger="test-ingest"):
        failed = ingestor(labeler, store, logger).process(
            [sqs_record("m1", s3_event_body("ObjectCreated:Put", key, size=size))]
        )
    assert failed == []
    assert labeler.calls == []
    assert store.writes == []
    [line] = caplog.records
    assert (line.outcome, line.key) == ("skipped", key)
    assert reason in line.reason


def test_uppercase_extensions_are_images(logger):
    labeler = FakeLabeler()
    ingestor(labeler, FakeStore(), logger).process(
        [sqs_record("m1", s3_event_body("ObjectCreated:Put", "HOLIDAY.JPEG"))]
    )
    assert labeler.calls == [("photos", "HOLIDAY.JPEG", None)]


def test_unprocessable_image_is_a_skip_and_other_errors_are_failures(logger, caplog):
    labeler = FakeLabeler(
        errors={
            "fake.jpg": UnprocessableImage("not an image format Rekognition accepts"),
            "throttled.jpg": RuntimeError("ThrottlingException after 6 attempts"),
        }
    )
    store = FakeStore()
    records = [
        sqs_record("m-fake", s3_event_body("ObjectCreated:Put", "fake.jpg")),
        sqs_record("m-throttled", s3_event_body("ObjectCreated:Put", "throttled.jpg")),
        sqs_record("m-ok", s3_event_body("ObjectCreated:Put", "ok.jpg")),
    ]
    with caplog.at_level(logging.INFO, logger="test-ingest"):
        failed = ingestor(labeler, store, logger).process(records)
    assert failed == ["m-throttled"]
    assert [w.document["key"] for w in store.writes] == ["ok.jpg"]
    throttled = next(r for r in caplog.records if r.message_id == "m-throttled")
    assert "ThrottlingException" in throttled.reason


def test_store_results_map_back_to_their_messages(logger, caplog):
    store = FakeStore(
        {
            "rejected.jpg": WriteResult(FAILED, "mapper_parsing_exception: bad"),
            "late.jpg": WriteResult(STALE, "a newer or equal state is already stored"),
        }
    )
    records = [
        sqs_record("m-ok", s3_event_body("ObjectCreated:Put", "ok.jpg")),
        sqs_record("m-rejected", s3_event_body("ObjectCreated:Put", "rejected.jpg")),
        sqs_record("m-late", s3_event_body("ObjectCreated:Put", "late.jpg")),
    ]
    with caplog.at_level(logging.INFO, logger="test-ingest"):
        failed = ingestor(FakeLabeler(), store, logger).process(records)
    assert failed == ["m-rejected"]
    late = next(r for r in caplog.records if r.message_id == "m-late")
    assert (late.outcome, late.reason.startswith("stale event")) == ("skipped", True)


def test_a_message_fails_when_any_of_its_records_fails(logger):
    body = json.dumps(
        {
            "Records": [
                *json.loads(s3_event_body("ObjectCreated:Put", "good.jpg"))["Records"],
                *json.loads(s3_event_body("ObjectCreated:Put", "bad.jpg"))["Records"],
            ]
        }
    )
    store = FakeStore({"bad.jpg": WriteResult(FAILED, "es_rejected_execution_exception")})
    failed = ingestor(FakeLabeler(), store, logger).process(
        [
            sqs_record("m-multi", body),
            sqs_record("m-other", s3_event_body("ObjectCreated:Put", "x.png")),
        ]
    )
    assert failed == ["m-multi"]


def test_events_older_than_the_stored_state_cost_no_rekognition_call(logger, caplog):
    newer = {"sequencer": "0055AED6DCD90281F0", "event_time": "2026-11-27T20:00:00.000000Z"}
    store = FakeStore(stored={image_id("photos", "seen.jpg"): newer})
    labeler = FakeLabeler()
    records = [
        sqs_record("m-old", s3_event_body("ObjectCreated:Put", "seen.jpg")),
        sqs_record("m-new", s3_event_body("ObjectCreated:Put", "new.jpg")),
    ]
    with caplog.at_level(logging.INFO, logger="test-ingest"):
        failed = ingestor(labeler, store, logger).process(records)
    assert failed == []
    assert labeler.calls == [("photos", "new.jpg", None)]
    assert [w.document["key"] for w in store.writes] == ["new.jpg"]
    old = next(r for r in caplog.records if r.message_id == "m-old")
    assert (old.outcome, old.reason.startswith("stale event")) == ("skipped", True)


def test_an_unavailable_store_fails_the_batch_before_any_rekognition_call(logger):
    labeler, store = FakeLabeler(), FakeStore(unavailable=True)
    records = [
        sqs_record("m-1", s3_event_body("ObjectCreated:Put", "a.jpg")),
        sqs_record("m-2", s3_event_body("ObjectRemoved:Delete", "b.jpg")),
        sqs_record("m-test", json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})),
    ]
    failed = ingestor(labeler, store, logger).process(records)
    assert failed == ["m-1", "m-2"]
    assert labeler.calls == [] and store.writes == []


# -- hostile input: one message never fails another ---------------------------------------------


def label_without_name():
    return ImageAnalysis(labels=[{"confidence": 90.0}], label_model_version="3.0")


def label_with_nan_confidence():
    analysis = FakeLabeler().analyze("photos", "x.jpg")
    analysis.labels[0]["confidence"] = float("nan")
    return analysis


class ShapelessLabeler(FakeLabeler):
    """Answers chosen keys with analyses the document builder or the stores cannot take."""

    def __init__(self, answers):
        super().__init__()
        self.answers = answers

    def analyze(self, bucket, key, version_id=None):
        if key in self.answers:
            self.calls.append((bucket, key, version_id))
            return self.answers[key]()
        return super().analyze(bucket, key, version_id)


def test_an_analysis_the_builder_cannot_use_fails_only_its_message(logger, caplog):
    labeler = ShapelessLabeler(
        {"nameless.jpg": label_without_name, "nan.jpg": label_with_nan_confidence}
    )
    store = FakeStore()
    records = [
        sqs_record("m-nameless", s3_event_body("ObjectCreated:Put", "nameless.jpg")),
        sqs_record("m-nan", s3_event_body("ObjectCreated:Put", "nan.jpg")),
        sqs_record("m-good", s3_event_body("ObjectCreated:Put", "good.jpg")),
    ]
    with caplog.at_level(logging.INFO, logger="test-ingest"):
        failed = ingestor(labeler, store, logger).process(records)
    assert failed == ["m-nameless", "m-nan"]
    assert [w.document["key"] for w in store.writes] == ["good.jpg"]
    nameless = next(
        r for r in caplog.records if getattr(r, "outcome", None) and r.message_id == "m-nameless"
    )
    assert nameless.reason.startswith("cannot build the document: KeyError")
    nan = next(r for r in caplog.records if getattr(r, "outcome", None) and r.message_id == "m-nan")
    assert "not storable JSON" in nan.reason


def test_an_unexpected_exception_while_reading_fails_only_that_message(logger, caplog, monkeypatch):
    from chalicelib import ingest as ingest_module

    real = ingest_module.read_message

    def exploding(body):
        if "explode" in body:
            raise OverflowError("an error nobody planned for")
        return real(body)

    monkeypatch.setattr(ingest_module, "read_message", exploding)
    labeler, store = FakeLabeler(), FakeStore()
    records = [
        sqs_record("m-poison", s3_event_body("ObjectCreated:Put", "explode.jpg")),
        sqs_record("m-good", s3_event_body("ObjectCreated:Put", "good.jpg")),
        {**sqs_record("m-no-body", ""), "body": None},
    ]
    with caplog.at_level(logging.INFO, logger="test-ingest"):
        failed = ingestor(labeler, store, logger).process(records)
    assert failed == ["m-poison", "m-no-body"]
    assert [w.document["key"] for w in store.writes] == ["good.jpg"]
    poison = next(r for r in caplog.records if r.message_id == "m-poison")
    assert (
        poison.reason == "unexpected OverflowError reading the message: an error nobody planned for"
    )
    assert "explode.jpg" in poison.body_excerpt and poison.exc_info is not None
    no_body = next(r for r in caplog.records if r.message_id == "m-no-body")
    assert no_body.reason == "malformed message: the body is NoneType, not text"


class RaisingStore(FakeStore):
    """A store whose write raises (instead of a FAILED result) whenever one document is in it."""

    def write(self, writes):
        if any(write.document["key"] == "poison.jpg" for write in writes):
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")
        return super().write(writes)


def test_a_write_that_raises_for_one_document_fails_only_that_message(logger):
    store = RaisingStore()
    records = [
        sqs_record("m-good", s3_event_body("ObjectCreated:Put", "good.jpg")),
        sqs_record("m-poison", s3_event_body("ObjectCreated:Put", "poison.jpg")),
        sqs_record("m-delete", s3_event_body("ObjectRemoved:Delete", "gone.jpg")),
    ]
    failed = ingestor(FakeLabeler(), store, logger).process(records)
    assert failed == ["m-poison"]
    assert sorted(w.document["key"] for w in store.writes) == ["gone.jpg", "good.jpg"]


def test_calendar_edge_times_and_surrogates_fail_alone(logger):
    record = json.loads(s3_event_body("ObjectCreated:Put", "edge.jpg"))
    record["Records"][0]["eventTime"] = "9999-12-31T23:59:59-01:00"
    surrogate = s3_event_body("ObjectCreated:Put", "x.jpg").replace("x.jpg", "\\ud800.jpg")
    store = FakeStore()
    failed = ingestor(FakeLabeler(), store, logger).process(
        [
            sqs_record("m-edge", json.dumps(record)),
            sqs_record("m-surrogate", surrogate),
            sqs_record("m-good", s3_event_body("ObjectCreated:Put", "good.jpg")),
        ]
    )
    assert failed == ["m-edge", "m-surrogate"]
    assert [w.document["key"] for w in store.writes] == ["good.jpg"]


def test_events_for_another_bucket_are_skipped_with_a_reason(logger, caplog):
    labeler, store = FakeLabeler(), FakeStore()
    batch = BatchIngestor(
        labeler=labeler,
        store=store,
        executor=ThreadPoolExecutor(2),
        region="us-east-1",
        logger=logger,
        image_bucket="photos",
    )
    with caplog.at_level(logging.INFO, logger="test-ingest"):
        failed = batch.process(
            [
                sqs_record("m-other", s3_event_body("ObjectCreated:Put", "a.jpg", bucket="other")),
                sqs_record("m-mine", s3_event_body("ObjectCreated:Put", "b.jpg")),
            ]
        )
    assert failed == []
    assert labeler.calls == [("photos", "b.jpg", None)]
    other = next(r for r in caplog.records if r.message_id == "m-other")
    assert (other.outcome, other.bucket, other.key) == ("skipped", "other", "a.jpg")
    assert other.reason == "bucket 'other' is not this stage's image bucket 'photos' (IMAGE_BUCKET)"


def test_a_message_with_hundreds_of_records_costs_no_rekognition_call(logger, caplog):
    body = json.dumps(
        {
            "Records": [
                json.loads(s3_event_body("ObjectCreated:Put", f"{n}.jpg"))["Records"][0]
                for n in range(300)
            ]
        }
    )
    labeler, store = FakeLabeler(), FakeStore()
    with caplog.at_level(logging.INFO, logger="test-ingest"):
        failed = ingestor(labeler, store, logger).process([sqs_record("m-many", body)])
    assert failed == [] and labeler.calls == [] and store.writes == []
    [line] = caplog.records
    assert line.outcome == "skipped" and line.reason.startswith("the message carries 300 Records")


def test_unsupported_event_types_are_skipped_naming_event_bucket_and_key(logger, caplog):
    with caplog.at_level(logging.INFO, logger="test-ingest"):
        failed = ingestor(FakeLabeler(), FakeStore(), logger).process(
            [sqs_record("m-restore", s3_event_body("ObjectRestore:Completed", "cold/a.jpg"))]
        )
    assert failed == []
    [line] = caplog.records
    assert (line.outcome, line.event_name, line.bucket, line.key) == (
        "skipped",
        "ObjectRestore:Completed",
        "photos",
        "cold/a.jpg",
    )
    assert line.reason.startswith("unsupported event type ObjectRestore:Completed")


def test_a_put_made_stale_by_a_delete_in_the_same_batch_costs_no_rekognition_call(logger, caplog):
    labeler, store = FakeLabeler(), FakeStore()
    records = [
        sqs_record("m-put", s3_event_body("ObjectCreated:Put", "short-lived.jpg", sequencer="01")),
        sqs_record(
            "m-delete", s3_event_body("ObjectRemoved:Delete", "short-lived.jpg", sequencer="02")
        ),
        sqs_record("m-again", s3_event_body("ObjectCreated:Put", "twice.jpg", sequencer="05")),
        sqs_record("m-twice", s3_event_body("ObjectCreated:Put", "twice.jpg", sequencer="05")),
    ]
    with caplog.at_level(logging.INFO, logger="test-ingest"):
        failed = ingestor(labeler, store, logger).process(records)
    assert failed == []
    assert labeler.calls == [("photos", "twice.jpg", None)]
    assert [(w.document["key"], w.document["deleted"]) for w in store.writes] == [
        ("short-lived.jpg", True),
        ("twice.jpg", False),
    ]
    put = next(r for r in caplog.records if r.message_id == "m-put")
    assert put.outcome == "skipped"
    assert put.reason == (
        "stale event: the same object has a newer or equal event in this batch "
        "(ObjectRemoved:Delete, message m-delete)"
    )


def test_the_stored_url_uses_the_stages_region_not_the_messages(logger):
    body = json.loads(s3_event_body("ObjectCreated:Put", "a.jpg"))
    body["Records"][0]["awsRegion"] = "evil.example.com/x?"
    store = FakeStore()
    ingestor(FakeLabeler(), store, logger).process([sqs_record("m1", json.dumps(body))])
    assert store.writes[0].document["url"] == "https://s3.us-east-1.amazonaws.com/photos/a.jpg"


class BrokenStore(FakeStore):
    """A store that raises for every write, alone or not: the store is broken, not an item."""

    def write(self, writes):
        raise RuntimeError("UnsupportedEngine: Elasticsearch 8.x")


def test_a_store_that_raises_for_every_image_fails_the_batch_loudly(logger):
    records = [
        sqs_record("m-1", s3_event_body("ObjectCreated:Put", "a.jpg")),
        sqs_record("m-2", s3_event_body("ObjectRemoved:Delete", "b.jpg")),
    ]
    with pytest.raises(RuntimeError, match="UnsupportedEngine"):
        ingestor(FakeLabeler(), BrokenStore(), logger).process(records)
