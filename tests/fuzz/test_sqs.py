"""SQS batches of good and poison messages through app.index_images, on both stores.

Each generated batch holds good messages (S3, SNS-wrapped and EventBridge shapes; a put made
stale by a delete of the same object), poison messages (those shapes with mutated fields,
raw garbage, hundreds of Records, another bucket) and images whose Rekognition answer the
document builder cannot use. Asserted for every batch, on each store: no exception escapes;
only poison messages are reported for retry; every good message is indexed (or deleted) in
this same invocation; every message has a log line, every skip and failure a reason, and every
line can be written as UTF-8 JSON; both stores report the same failures.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.call_timing import WallTimer
from chalicelib.documents import image_id
from chalicelib.logs import JsonFormatter
from tests.fuzz import strategies as fuzz
from tests.fuzz.conftest import RECORDER, cases
from tests.fuzz.harness import Lambda, sqs_record, stage_components, stage_settings

pytestmark = pytest.mark.integration

GOOD_LABELS = {"Labels": [{"Name": "Thing", "Confidence": 91.5, "Parents": [{"Name": "Object"}]}]}


class FakeRekognition:
    """DetectLabels answering a fixed label, or the answer prepared for a key."""

    def __init__(self, answers: dict[str, dict]):
        self.answers = answers
        self.keys: list[str] = []

    def detect_labels(self, Image, **request):  # Image: boto3's parameter name
        key = Image["S3Object"]["Name"]
        self.keys.append(key)
        return self.answers.get(key, GOOD_LABELS)


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


class IngestStage:
    def __init__(self, name: str, settings, answers: dict[str, dict]):
        self.lines = Lines()
        logger = logging.getLogger(f"fuzz-ingest-{name}-{uuid.uuid4().hex[:6]}")
        logger.addHandler(self.lines)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        self.rekognition = FakeRekognition(answers)
        # The fake answers without HTTP, so no botocore attempt can be timed: a wall clock.
        self.components = stage_components(
            settings, rekognition=self.rekognition, rekognition_timer=WallTimer(), logger=logger
        )
        self.function = Lambda(self.components)
        self.store = self.components.store

    def run(self, records: list[dict]) -> list[str]:
        self.lines.records.clear()
        self.rekognition.keys.clear()
        payload = self.function.index_images(records)
        return [failure["itemIdentifier"] for failure in payload["batchItemFailures"]]


@pytest.fixture(scope="module")
def answers():
    return {}


@pytest.fixture(scope="module")
def stages(tmp_path_factory, opensearch_url, search_client, answers):
    sqlite_path = str(tmp_path_factory.mktemp("fuzz-sqs") / "images.sqlite3")
    alias = f"fuzz-sqs-{uuid.uuid4().hex[:8]}"
    stages = {
        "sqlite": IngestStage("sqlite", stage_settings(sqlite_path=sqlite_path), answers),
        "opensearch": IngestStage(
            "opensearch",
            stage_settings(search_endpoint=opensearch_url, index_alias=alias),
            answers,
        ),
    }
    yield stages
    search_client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
    search_client.indices.delete_template(name=alias, ignore=[404])


# -- good messages -------------------------------------------------------------------------------


def good_body(shape: str, event_name: str, key: str, sequencer: str) -> str:
    if shape == "eventbridge":
        detail_type = (
            "Object Created" if event_name.startswith("ObjectCreated") else "Object Deleted"
        )
        return json.dumps(fuzz.eventbridge_event(detail_type, key, sequencer))
    body = json.dumps({"Records": [fuzz.s3_record(event_name, key, sequencer)]})
    return json.dumps(fuzz.sns_envelope(body)) if shape == "sns" else body


good_shapes = st.sampled_from(["s3", "sns", "eventbridge"])


@st.composite
def batches(draw, run: str):
    """(records, expectations): a shuffled batch of at most ten messages."""
    messages: list[tuple[str, str, str]] = []  # (message id, kind, body)
    expected: dict[str, str] = {}  # good key -> "indexed" or "deleted"
    for n in range(draw(st.integers(1, 3))):
        key = f"good/{run}-{n}.jpg"
        messages.append(
            (f"good-{n}", "good", good_body(draw(good_shapes), "ObjectCreated:Put", key, "0A"))
        )
        expected[key] = "indexed"
    if draw(st.booleans()):
        # A put and the delete that makes it stale, in one batch: the put costs no Rekognition call.
        key = f"pair/{run}.jpg"
        messages.append(
            ("pair-put", "good", good_body(draw(good_shapes), "ObjectCreated:Put", key, "01"))
        )
        messages.append(
            ("pair-delete", "good", good_body(draw(good_shapes), "ObjectRemoved:Delete", key, "02"))
        )
        expected[key] = "deleted"
    weird: dict[str, dict] = {}
    for n in range(draw(st.integers(0, 2))):
        key = f"weird/{run}-{n}.jpg"
        weird[key] = draw(fuzz.rekognition_answers)
        messages.append((f"weird-{n}", "poison", good_body("s3", "ObjectCreated:Put", key, "0B")))
    for n in range(draw(st.integers(1, 10 - len(messages)))):
        messages.append((f"poison-{n}", "poison", draw(fuzz.poison_body(f"poison/{run}-{n}.jpg"))))
    order = draw(st.permutations(messages))
    records = [sqs_record(message_id, body) for message_id, _, body in order]
    poison = {message_id for message_id, kind, _ in messages if kind == "poison"}
    return records, poison, expected, weird


@settings(max_examples=cases(700))
@given(data=st.data())
def test_poison_messages_fail_alone_and_every_good_message_is_indexed(stages, answers, data):
    run = uuid.uuid4().hex[:12]
    records, poison, expected, weird = data.draw(batches(run), label="batch")
    answers.update(weird)
    failures = {}
    for name, stage in stages.items():
        failed = stage.run(records)
        failures[name] = failed
        outcomes = check_batch(stage, records, poison, expected, failed)
    assert failures["sqlite"] == failures["opensearch"], failures
    RECORDER.case(
        "test_poison_messages_fail_alone_and_every_good_message_is_indexed",
        *(f"poison {outcome}" for outcome in outcomes),
    )


def check_batch(stage, records, poison, expected, failed) -> list[str]:
    ids = [record["messageId"] for record in records]
    assert set(failed) <= poison, (failed, poison)
    assert failed == [i for i in ids if i in set(failed)]  # in batch order, once each
    for key, state in expected.items():
        document = stage.store.get(image_id(fuzz.IMAGE_BUCKET, key))
        if state == "indexed":
            assert document is not None and document["key"] == key, key
            assert document["url"] == f"https://s3.us-east-1.amazonaws.com/photos/{key}"
        else:
            assert document is None, key
            assert image_id(fuzz.IMAGE_BUCKET, key) in stage.store.stored_positions(
                [image_id(fuzz.IMAGE_BUCKET, key)]
            )
            assert key not in stage.rekognition.keys  # stale within the batch: never labelled
    lines = [record for record in stage.lines.records if hasattr(record, "outcome")]
    formatter = JsonFormatter()
    for line in stage.lines.records:
        formatter.format(line).encode("utf-8")  # evidence that can be written, whatever it quotes
    for line in lines:
        assert line.outcome in ("indexed", "deleted", "skipped", "failed"), line.__dict__
        if line.outcome in ("skipped", "failed"):
            assert isinstance(line.reason, str) and line.reason, line.__dict__
    logged = {line.message_id for line in lines}
    assert logged == set(ids), (set(ids) - logged, "messages without a log line")
    outcomes = []
    for message_id in sorted(poison):
        mine = {line.outcome for line in lines if line.message_id == message_id}
        if message_id in failed:
            assert "failed" in mine, (message_id, mine)
            outcomes.append("failed")
        else:
            outcomes.append("/".join(sorted(mine)))
    return outcomes
