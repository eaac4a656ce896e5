"""relabel: live images only, at a position that beats the stored state and loses to any later
event.

The ordering rule is the function's own (chalicelib/documents.py ``supersedes``); the command
runs against the moto server (a stage deployed from a clean clone) and the test session's
search node, holding documents written by the store as the function writes them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib import documents
from chalicelib.events import REMOVED, ObjectEvent, read_message
from chalicelib.store.base import ImageWrite
from chalicelib.vocabulary import ImageAnalysis
from localdev.aws.__main__ import main
from localdev.aws.context import Context
from localdev.aws.relabel import successor_position
from localdev.aws.stage_targets import stage_store, stage_targets
from tests.deploy.operations_stage import common_args, deploy_stage, drain

T0 = "2026-11-01T10:00:00.123000Z"
DELETED_AT = datetime(2026, 11, 2, tzinfo=UTC)


def _position(sequencer, event_time=T0) -> dict:
    return {"sequencer": sequencer, "event_time": event_time}


def _relabel(stored: dict) -> dict:
    sequencer, event_time = successor_position(stored)
    return _position(sequencer, event_time)


@pytest.mark.parametrize("sequencer", ["0055AED6DCD90281E5", "0A", "00628E7D3E4D6B1B5A6C"])
def test_a_relabel_beats_the_stored_state_and_loses_to_any_later_event(sequencer):
    stored = _position(sequencer)
    relabel = _relabel(stored)
    assert documents.supersedes(relabel, stored)  # not dropped as a redelivery
    assert not documents.supersedes(relabel, relabel)  # a second copy of it is
    assert not documents.supersedes(stored, relabel)  # nor does the original come back
    # Later S3 sequencers: the next value of the same length, a longer one, the shortest above.
    for later in (
        f"{int(sequencer, 16) + 1:0{len(sequencer)}X}",
        sequencer + "01",
        sequencer + "1",
    ):
        assert documents.supersedes(_position(later), stored)
        assert documents.supersedes(_position(later), relabel), later  # the delete wins
        assert not documents.supersedes(relabel, _position(later))  # and stays


def test_without_sequencers_a_relabel_is_one_microsecond_later_than_the_stored_event():
    stored = _position(None)
    relabel = _relabel(stored)
    assert relabel == _position(None, "2026-11-01T10:00:00.123001Z")
    assert documents.supersedes(relabel, stored)
    later = _position(None, "2026-11-01T10:00:00.124000Z")  # S3 event times are milliseconds
    assert documents.supersedes(later, relabel) and not documents.supersedes(relabel, later)


def _event(key, bucket, sequencer, action="created", etag="etag-1"):
    return ObjectEvent(
        action=action,
        bucket=bucket,
        key=key,
        event_name="ObjectCreated:Put" if action == "created" else "ObjectRemoved:Delete",
        event_time=T0,
        region="us-east-1",
        size=3 if action == "created" else None,
        etag=etag if action == "created" else None,
        version_id=None,
        sequencer=sequencer,
    )


def _indexed(key, bucket, indexed_at, etag="etag-1") -> ImageWrite:
    analysis = ImageAnalysis(labels=[], label_model_version="3.0")
    document = documents.image_document(
        _event(key, bucket, "0010", etag=etag),
        analysis,
        "us-east-1",
        datetime.fromisoformat(indexed_at),
    )
    return ImageWrite(document["image_id"], document)


@pytest.mark.integration
def test_relabel_enqueues_live_unchanged_images_only_at_their_successor_position(
    aws, project, opensearch_url, capsys
):
    outputs = deploy_stage(project, opensearch_url, aws)
    bucket, s3, sqs = outputs["BucketName"], aws.client("s3"), aws.client("sqs")
    etag = s3.put_object(Bucket=bucket, Key="p/live.jpg", Body=b"abc")["ETag"].strip('"')
    for key in ("p/deleted.jpg", "p/recent.jpg", "p/never-indexed.jpg", "p/changed.jpg"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"abc")
    recent_etag = s3.head_object(Bucket=bucket, Key="p/recent.jpg")["ETag"].strip('"')
    s3.put_object(Bucket=bucket, Key="other/live.jpg", Body=b"abc")  # outside the prefix
    ctx = Context(stage="dev", project_dir=project, session=aws)
    store = stage_store(ctx, stage_targets(ctx))
    tombstone = documents.tombstone(_event("p/deleted.jpg", bucket, "0011", REMOVED), DELETED_AT)
    writes = [
        _indexed("p/live.jpg", bucket, "2026-11-01T10:00:01+00:00", etag),
        _indexed("p/deleted.jpg", bucket, "2026-11-01T10:00:01+00:00", etag),
        ImageWrite(tombstone["image_id"], tombstone),
        _indexed("p/recent.jpg", bucket, "2026-12-01T10:00:00+00:00", recent_etag),
        _indexed("p/changed.jpg", bucket, "2026-11-01T10:00:01+00:00", "an-older-etag"),
        _indexed("p/gone-from-s3.jpg", bucket, "2026-11-01T10:00:01+00:00", etag),
        _indexed("other/live.jpg", bucket, "2026-11-01T10:00:01+00:00", etag),
    ]
    store.write(writes)
    capsys.readouterr()

    argv = ["relabel", *common_args(project), "--prefix", "p/", "--since", "2026-11-15"]
    assert main(argv) == 0

    out = capsys.readouterr().out
    assert "enqueued 1 relabel event(s)" in out
    assert "skipped 1: changed since it was indexed (its own event indexes it)" in out
    assert "skipped 1: indexed at or after --since" in out
    assert "skipped 2: not indexed, or deleted" in out  # the tombstone and never-indexed.jpg
    [body] = drain(sqs, outputs["QueueUrl"])
    [event] = read_message(body).events
    assert (event.key, event.event_name, event.bucket) == (
        "p/live.jpg",
        "ObjectCreated:Relabel",
        bucket,
    )
    assert event.sequencer == "0010" + "0" * 16 + "1"
    assert event.etag == etag and event.size == 3
    stored = store.stored_positions([documents.image_id(bucket, "p/live.jpg")])
    assert documents.supersedes({"sequencer": event.sequencer, "event_time": event.event_time},
                                next(iter(stored.values())))  # fmt: skip
    assert json.loads(body)["Records"][0]["s3"]["object"]["key"] == "p%2Flive.jpg"
