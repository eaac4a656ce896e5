"""compact: tombstones older than TOMBSTONE_RETENTION_DAYS go; a shorter setting than the
queue's plus the dead-letter queue's retention is refused.

Against the moto server (a stage deployed from a clean clone, its real retention attributes)
and the test session's search node; the cut-off arithmetic also against the embedded store,
with the two GetQueueAttributes calls pinned by a Stubber.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests
from botocore.stub import Stubber

from chalicelib import documents
from chalicelib.events import CREATED, REMOVED, ObjectEvent
from chalicelib.store.base import ImageWrite
from chalicelib.vocabulary import ImageAnalysis
from localdev.aws import chalice_config, compact, preflight
from localdev.aws.__main__ import main
from localdev.aws.context import Context
from localdev.aws.stage_targets import stage_store, stage_targets
from localdev.embedded.sqlite_store import SqliteStore
from tests.deploy.operations_stage import common_args, deploy_stage

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _event(key: str, action: str, sequencer: str) -> ObjectEvent:
    return ObjectEvent(
        action=action,
        bucket="photos",
        key=key,
        event_name="ObjectCreated:Put" if action == CREATED else "ObjectRemoved:Delete",
        event_time="2026-01-01T00:00:00.000000Z",
        region="us-east-1",
        size=3 if action == CREATED else None,
        etag="e" if action == CREATED else None,
        version_id=None,
        sequencer=sequencer,
    )


def _writes(now: datetime, retention_days: int, prefix: str = "") -> list[ImageWrite]:
    """A tombstone just older than the retention, one just younger, an old live image."""
    horizon = timedelta(days=retention_days)
    old_event, young_event = (
        _event(f"{prefix}{k}", REMOVED, "0020") for k in ("old.jpg", "young.jpg")
    )
    old = documents.tombstone(old_event, now - horizon - timedelta(1))
    young = documents.tombstone(young_event, now - horizon + timedelta(1))
    live = documents.image_document(
        _event(f"{prefix}live.jpg", CREATED, "0010"),
        ImageAnalysis(labels=[], label_model_version="3.0"),
        "us-east-1",
        now - timedelta(days=400),
    )
    return [ImageWrite(d["image_id"], d) for d in (old, young, live)]


def _ids(*keys: str, prefix: str = "") -> list[str]:
    return [documents.image_id("photos", f"{prefix}{key}") for key in keys]


def _stubbed_retentions(queue_days: int, dlq_days: int):
    sqs = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(sqs)
    for url, days in (("queue", queue_days), ("dlq", dlq_days)):
        stubber.add_response(
            "get_queue_attributes",
            {"Attributes": {"MessageRetentionPeriod": str(days * 86400)}},
            {"QueueUrl": url, "AttributeNames": ["MessageRetentionPeriod"]},
        )
    return sqs, stubber


def test_the_cutoff_is_now_minus_the_tombstone_retention(tmp_path):
    store = SqliteStore(tmp_path / "images.sqlite3")
    store.write(_writes(NOW, retention_days=30))
    sqs, stubber = _stubbed_retentions(queue_days=4, dlq_days=14)
    with stubber:
        result = compact.compact(sqs, store, "queue", "dlq", retention_days=30, now=NOW)
        stubber.assert_no_pending_responses()

    assert result == compact.CompactResult(1, "2026-11-01T00:00:00.000000Z", timedelta(days=30))
    assert set(store.stored_positions(_ids("old.jpg", "young.jpg", "live.jpg"))) == set(
        _ids("young.jpg", "live.jpg")
    )


def test_a_retention_shorter_than_both_queues_is_refused_and_removes_nothing(tmp_path):
    store = SqliteStore(tmp_path / "images.sqlite3")
    store.write(_writes(NOW, retention_days=10))
    sqs, stubber = _stubbed_retentions(queue_days=4, dlq_days=14)
    with stubber, pytest.raises(compact.RetentionTooShort, match="at least 18"):
        compact.compact(sqs, store, "queue", "dlq", retention_days=10, now=NOW)

    assert len(store.stored_positions(_ids("old.jpg", "young.jpg", "live.jpg"))) == 3


@pytest.mark.integration
def test_compact_removes_the_stage_index_old_tombstones_only(aws, project, opensearch_url, capsys):
    deploy_stage(project, opensearch_url, aws)
    ctx = Context(stage="dev", project_dir=project, session=aws)
    store = stage_store(ctx, stage_targets(ctx))
    # The stage's index lives on in a reused node: keys of this run only, never seen before.
    prefix = f"{uuid.uuid4().hex}/"
    store.write(_writes(datetime.now(UTC), retention_days=30, prefix=prefix))  # the default
    # Searches see a write after a refresh (once a second by default): compact searches next.
    requests.post(f"{opensearch_url}/_refresh", timeout=30).raise_for_status()
    capsys.readouterr()

    assert main(["compact", *common_args(project)]) == 0

    out = capsys.readouterr().out
    assert "Removed 1 tombstone(s) written before " in out
    assert "(TOMBSTONE_RETENTION_DAYS: 30)" in out
    assert set(
        store.stored_positions(_ids("old.jpg", "young.jpg", "live.jpg", prefix=prefix))
    ) == set(_ids("young.jpg", "live.jpg", prefix=prefix))
    assert main(["compact", *common_args(project)]) == 0
    assert "Removed 0 tombstone(s)" in capsys.readouterr().out


def test_the_template_retention_is_the_queue_default_plus_the_dead_letter_queue():
    assert compact.template_retention() == timedelta(days=4 + 14)


@pytest.mark.integration
@pytest.mark.parametrize(("days", "problems"), [("18", 0), ("17", 1)])
def test_preflight_requires_the_tombstone_retention_to_cover_both_queues(
    aws, project, days, problems
):
    config = chalice_config.load(project)
    config["stages"]["dev"]["environment_variables"]["TOMBSTONE_RETENTION_DAYS"] = days
    chalice_config.save(project, config)
    report = preflight.Report()

    preflight.check_tombstone_retention(Context(stage="dev", project_dir=project), None, report)

    assert [problem.line() for problem in report.problems] == [
        "TOMBSTONE_RETENTION_DAYS: 17 days is shorter than the queue's plus the dead-letter "
        "queue's retention (18 days, 0:00:00). Fix: set it to at least 18 in "
        ".chalice/config.json stages.dev.environment_variables"
    ][:problems]
