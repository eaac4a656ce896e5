"""Each batch writes CloudWatch embedded-metric-format documents that follow the specification
(CloudWatch User Guide, "Specification: Embedded metric format") and count what happened."""

from __future__ import annotations

import io
import json
import logging
import numbers
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import botocore.session

from chalicelib.components import Components
from chalicelib.ingest import BatchIngestor
from chalicelib.logs import bind_invocation, clear_invocation
from chalicelib.metrics import (
    METRICS,
    NAMESPACE,
    BatchFigures,
    BatchMetrics,
    emf_documents,
    oldest_message_age_seconds,
)
from chalicelib.rekognition import RekognitionThrottled, UnprocessableImage
from chalicelib.settings import Settings
from chalicelib.store.base import FAILED, WriteResult
from tests.samples import s3_event_body, sqs_record
from tests.unit.test_ingest import FakeLabeler, FakeStore

# The units CloudWatch accepts: the StandardUnit enum of botocore's CloudWatch model.
STANDARD_UNITS = set(
    botocore.session.get_session().get_service_model("cloudwatch").shape_for("StandardUnit").enum
)
# SentTimestamp of tests.samples.sqs_record, and the ingestor's clock 90 s later.
SENT_MS = 1795809600000
NOW = datetime.fromtimestamp((SENT_MS + 90_000) / 1000, UTC)
SILENT = logging.getLogger("test-metrics")  # the image lines are not what these tests read


def assert_emf(document: dict) -> None:
    """Every rule of the specification that a document of ours could break."""
    aws = document["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 0  # epoch milliseconds
    assert isinstance(aws["CloudWatchMetrics"], list) and aws["CloudWatchMetrics"]
    for directive in aws["CloudWatchMetrics"]:
        assert set(directive) <= {"Namespace", "Dimensions", "Metrics"}
        namespace = directive["Namespace"]
        assert 1 <= len(namespace) <= 1024 and namespace.strip()
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30  # "up to 30 dimension keys"
            for key in dimension_set:
                # "a DimensionSet ... MUST have a corresponding target member" (a string).
                assert isinstance(document[key], str) and 1 <= len(document[key]) <= 1024
        assert 1 <= len(directive["Metrics"]) <= 100  # "up to 100 metrics"
        for definition in directive["Metrics"]:
            assert set(definition) <= {"Name", "Unit", "StorageResolution"}
            assert definition["Unit"] in STANDARD_UNITS
            value = document[definition["Name"]]  # each metric has a target member
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= 100  # "up to 100 values"
            assert all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)


def metric_units(document: dict) -> dict[str, str]:
    [directive] = document["_aws"]["CloudWatchMetrics"]
    return {definition["Name"]: definition["Unit"] for definition in directive["Metrics"]}


def test_one_document_per_batch_with_every_metric_its_unit_and_the_stage():
    figures = BatchFigures(
        messages=10,
        indexed=6,
        deleted=1,
        skipped=2,
        failed=1,
        throttled=1,
        rekognition_ms=[180.5, 212.0, 95.25],
        oldest_message_age_seconds=42.0,
    )
    [document] = emf_documents(figures, "prod", 1795809690000, {"request_id": "r-1"})
    assert_emf(document)
    assert document["_aws"]["Timestamp"] == 1795809690000
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert (directive["Namespace"], directive["Dimensions"]) == (NAMESPACE, [["Stage"]])
    assert metric_units(document) == {
        "Messages": "Count",
        "Indexed": "Count",
        "Deleted": "Count",
        "Skipped": "Count",
        "Failed": "Count",
        "Throttled": "Count",
        "RekognitionLatency": "Milliseconds",
        "OldestMessageAge": "Seconds",
    }
    assert document["Stage"] == "prod" and document["request_id"] == "r-1"
    assert (document["Indexed"], document["Failed"], document["Throttled"]) == (6, 1, 1)
    assert document["RekognitionLatency"] == [180.5, 212.0, 95.25]
    assert document["OldestMessageAge"] == 42.0


def test_zero_counts_are_published_and_absent_measurements_are_left_out():
    # Zeros keep the alarms' and dashboards' sums continuous; EMF has no "no value".
    [document] = emf_documents(BatchFigures(messages=1, skipped=1), "dev", 1)
    assert_emf(document)
    assert document["Indexed"] == 0 and document["Failed"] == 0
    assert "RekognitionLatency" not in document and "OldestMessageAge" not in document
    assert set(metric_units(document)) == {m.name for m in METRICS} - {
        "RekognitionLatency",
        "OldestMessageAge",
    }


def test_more_than_100_latencies_continue_in_further_documents():
    figures = BatchFigures(messages=250, indexed=250, rekognition_ms=[float(i) for i in range(250)])
    documents = emf_documents(figures, "dev", 1)
    for document in documents:
        assert_emf(document)
    assert [len(d["RekognitionLatency"]) for d in documents] == [100, 100, 50]
    assert documents[0]["Indexed"] == 250
    assert [set(metric_units(d)) for d in documents[1:]] == [{"RekognitionLatency"}] * 2
    assert [v for d in documents for v in d["RekognitionLatency"]] == figures.rekognition_ms


def test_the_publisher_writes_one_json_line_per_document_with_the_request_id():
    stream = io.StringIO()
    bind_invocation(type("Context", (), {"aws_request_id": "req-7", "function_name": "fn"})())
    try:
        BatchMetrics("dev", stream=stream, clock=lambda: 1795809690.123).publish(
            BatchFigures(messages=2, indexed=2, rekognition_ms=[10.0, 12.0])
        )
    finally:
        clear_invocation()
    [line] = stream.getvalue().splitlines()
    document = json.loads(line)
    assert_emf(document)
    assert document["_aws"]["Timestamp"] == 1795809690123
    assert (document["request_id"], document["function_name"]) == ("req-7", "fn")


def test_age_of_the_oldest_message_from_sent_timestamps():
    records = [sqs_record("m-1", "{}"), sqs_record("m-2", "{}")]
    records[1]["attributes"]["SentTimestamp"] = str(SENT_MS - 30_000)
    assert oldest_message_age_seconds(records, SENT_MS + 90_000) == 120.0
    assert oldest_message_age_seconds([{"messageId": "x", "attributes": {}}], SENT_MS) is None


class RecordingMetrics:
    def __init__(self):
        self.published: list[BatchFigures] = []

    def publish(self, figures: BatchFigures) -> None:
        self.published.append(figures)


def test_the_ingestors_figures_count_each_outcome_of_a_mixed_batch():
    receive = "ObjectCreated:Put"
    labeler = FakeLabeler(
        errors={
            "slow-down.jpg": RekognitionThrottled(
                "Rekognition throttled (ProvisionedThroughputExceededException) after 6 attempts"
            ),
            "broken.jpg": UnprocessableImage("not an image format Rekognition accepts"),
        }
    )
    store = FakeStore(results_by_key={"refused.jpg": WriteResult(FAILED, "mapper_parsing")})
    metrics = RecordingMetrics()
    ingestor = BatchIngestor(
        labeler=labeler,
        store=store,
        executor=ThreadPoolExecutor(4),
        region="us-east-1",
        logger=SILENT,
        clock=lambda: NOW,
        metrics=metrics,
    )
    records = [
        sqs_record("m-ok", s3_event_body(receive, "ok.jpg")),
        sqs_record("m-throttled", s3_event_body(receive, "slow-down.jpg")),
        sqs_record("m-broken", s3_event_body(receive, "broken.jpg")),
        sqs_record("m-refused", s3_event_body(receive, "refused.jpg")),
        sqs_record("m-gone", s3_event_body("ObjectRemoved:Delete", "gone.jpg")),
        sqs_record("m-text", s3_event_body(receive, "notes.txt")),
        sqs_record("m-garbage", "not json"),
    ]
    failed = ingestor.process(records)
    # No redelivery (no REKOGNITION_TPS): the throttled message is retried in place.
    assert failed == ["m-throttled", "m-refused", "m-garbage"]
    [figures] = metrics.published
    assert (figures.messages, figures.indexed, figures.deleted) == (7, 1, 1)
    assert (figures.skipped, figures.failed, figures.throttled) == (2, 3, 1)
    # One latency per Rekognition call, errors included: ok, slow-down, broken, refused.
    assert len(figures.rekognition_ms) == 4
    assert all(ms >= 0 for ms in figures.rekognition_ms)
    assert figures.oldest_message_age_seconds == 90.0
    [document] = emf_documents(figures, "dev", 1)
    assert_emf(document)


def test_the_functions_ingestor_publishes_on_stdout_with_the_deployed_stage(capsys):
    assert Settings.from_environ({"STAGE": "prod"}).stage == "prod"
    assert Settings.from_environ({}).stage == "local"
    components = Components(
        settings=Settings(stage="prod"), labeler=FakeLabeler(), store=FakeStore(), logger=SILENT
    )
    components.ingestor.process([sqs_record("m-1", s3_event_body("ObjectCreated:Put", "a.jpg"))])
    [document] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert_emf(document)
    assert document["Stage"] == "prod" and document["Indexed"] == 1
