from datetime import UTC, datetime

import pytest

from chalicelib import documents, timestamps
from chalicelib.events import CREATED, REMOVED, ObjectEvent
from chalicelib.vocabulary import ImageAnalysis

NOW = datetime(2026, 11, 27, 20, 0, 0, tzinfo=UTC)


def event(action=CREATED, key="pets/rex the dog.jpg", **fields):
    values = {
        "action": action,
        "bucket": "photos",
        "key": key,
        "event_name": "ObjectCreated:Put" if action == CREATED else "ObjectRemoved:Delete",
        "event_time": "2026-11-27T19:59:58.123000Z",
        "region": "eu-west-1",
        "size": 2048 if action == CREATED else None,
        "etag": "abc123" if action == CREATED else None,
        "version_id": None,
        "sequencer": "0055AED6DCD90281E5",
    }
    values.update(fields)
    return ObjectEvent(**values)


def label(name, confidence, parents=(), aliases=()):
    return {
        "name": name,
        "confidence": confidence,
        "parents": list(parents),
        "aliases": list(aliases),
        "categories": [],
        "instances": [],
    }


def test_image_id_is_deterministic_and_distinguishes_bucket_and_key():
    assert documents.image_id("photos", "a.jpg") == documents.image_id("photos", "a.jpg")
    assert documents.image_id("photos", "a.jpg") != documents.image_id("photos2", "a.jpg")
    assert len(documents.image_id("photos", "a.jpg")) == 64


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("2026-11-27T20:36:26.123Z", "2026-11-27T20:36:26.123000Z"),
        ("2026-11-27T20:36:26Z", "2026-11-27T20:36:26.000000Z"),
        ("2026-11-27T21:36:26+01:00", "2026-11-27T20:36:26.000000Z"),
    ],
)
def test_canonical_time(raw, canonical):
    assert timestamps.canonical_time(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        # Offsets that push a time off the calendar (OverflowError inside datetime).
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        # Years that would be written with fewer than four digits, and times outside the window.
        "0999-12-31T00:00:00Z",
        "1969-12-31T23:59:59.999Z",
        "not a time",
        "",
    ],
)
def test_times_outside_the_window_or_the_calendar_are_invalid_times(raw):
    with pytest.raises(timestamps.InvalidTime):
        timestamps.canonical_time(raw)


def test_the_window_edges_are_four_digit_years_and_round_trip_as_epoch_millis():
    assert timestamps.canonical_time("1970-01-01T00:00:00Z") == "1970-01-01T00:00:00.000000Z"
    latest = timestamps.canonical_time("9999-12-31T23:59:59.999999Z")
    assert latest == "9999-12-31T23:59:59.999999Z"
    millis = timestamps.to_epoch_millis(latest)
    assert millis == 253402300799999
    assert timestamps.from_epoch_millis(millis) == "9999-12-31T23:59:59.999"
    assert timestamps.from_epoch_millis(0) == "1970-01-01T00:00:00.000"
    for outside in (-1, millis + 1, 2**64, True, 1.5):
        with pytest.raises(timestamps.InvalidTime):
            timestamps.from_epoch_millis(outside)


def test_a_document_neither_store_could_take_is_refused_alone():
    assert documents.storable({"confidence": 1.5}) == {"confidence": 1.5}
    for poison in ({"confidence": float("nan")}, {"key": "\ud800"}, {"x": float("inf")}):
        with pytest.raises(documents.InvalidDocument):
            documents.storable(poison)


@pytest.mark.parametrize(
    ("incoming", "current", "newer"),
    [
        ("0055AED6DCD90281E6", "0055AED6DCD90281E5", True),
        ("0055AED6DCD90281E5", "0055AED6DCD90281E6", False),
        ("0055AED6DCD90281E5", "0055AED6DCD90281E5", False),  # redelivery changes nothing
        # Different lengths: right-padded with zeros before comparing, as AWS documents.
        ("0055AED6DCD90281E5", "0055AED6DCD90281", True),
        ("0055AED6DCD9028", "0055AED6DCD90281", False),
        ("0055aed6dcd90281e6", "0055AED6DCD90281E5", True),
    ],
)
def test_sequencers_order_events_of_one_key(incoming, current, newer):
    assert (
        documents.supersedes(
            {"sequencer": incoming, "event_time": "2026-01-01T00:00:00.000000Z"},
            {"sequencer": current, "event_time": "2026-01-01T00:00:00.000000Z"},
        )
        is newer
    )


def test_without_sequencers_event_time_decides():
    older = {"sequencer": None, "event_time": "2026-11-27T20:00:00.000000Z"}
    newer = {"sequencer": "00AA", "event_time": "2026-11-27T20:00:01.000000Z"}
    assert documents.supersedes(newer, older)
    assert not documents.supersedes(older, newer)
    assert documents.supersedes(older, None)


def test_image_document_fields():
    analysis = ImageAnalysis(
        labels=[
            label("Dog", 98.0, parents=["Animal", "Pet"], aliases=["Canine"]),
            label("Pet", 90.0, parents=["Animal"]),
        ],
        label_model_version="3.0",
        text=[{"text": "GOOD BOY", "confidence": 99.0}],
        faces=[],
    )
    document = documents.image_document(
        event(version_id="v1"), analysis, region="us-east-1", indexed_at=NOW
    )
    assert document == {
        "image_id": documents.image_id("photos", "pets/rex the dog.jpg"),
        "bucket": "photos",
        "key": "pets/rex the dog.jpg",
        "s3_uri": "s3://photos/pets/rex the dog.jpg",
        "version_id": "v1",
        "event_name": "ObjectCreated:Put",
        "event_time": "2026-11-27T19:59:58.123000Z",
        "sequencer": "0055AED6DCD90281E5",
        "deleted": False,
        # The stage's region, never the message's unvalidated awsRegion (eu-west-1 here).
        "url": "https://s3.us-east-1.amazonaws.com/photos/pets/rex%20the%20dog.jpg",
        "size": 2048,
        "etag": "abc123",
        "indexed_at": "2026-11-27T20:00:00.000000Z",
        "label_model_version": "3.0",
        "labels": analysis.labels,
        "label_names": ["Dog", "Animal", "Pet"],
        "search_text": ["Dog", "Canine", "Pet", "GOOD BOY"],
        "image_properties": None,
        "text": [{"text": "GOOD BOY", "confidence": 99.0}],
        "moderation_labels": None,
        "faces": [],
        "face_count": 0,
    }


def test_tombstone_keeps_the_position_of_the_delete():
    stone = documents.tombstone(event(REMOVED, sequencer="0055AED6DCD90281F0"), NOW)
    assert stone["deleted"] is True
    assert stone["sequencer"] == "0055AED6DCD90281F0"
    assert stone["image_id"] == documents.image_id("photos", "pets/rex the dog.jpg")
    assert "labels" not in stone
