"""The shared vocabulary: enum values are the strings that logs, metrics, JSON and stored
documents carry, the document shapes are the builder's and the mapping's, and EventPosition is
the one ordering rule."""

import json
from datetime import UTC, datetime

import pytest

from chalicelib import documents, rekognition
from chalicelib.events import ObjectEvent
from chalicelib.store import mapping
from chalicelib.vocabulary import (
    Action,
    EventPosition,
    ImageAnalysis,
    ImageDocument,
    Match,
    Outcome,
    Sort,
    TimeField,
    Tombstone,
    WriteStatus,
)

T0 = "2026-01-01T00:00:00.000000Z"
NOW = datetime(2026, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("enum", "values"),
    [
        (Action, ["created", "removed"]),
        (Outcome, ["indexed", "deleted", "skipped", "throttled", "failed"]),
        (WriteStatus, ["written", "stale", "failed"]),
        (Match, ["all", "any"]),
        (Sort, ["relevance", "confidence", "newest"]),
        (TimeField, ["indexed", "event"]),
    ],
)
def test_every_member_is_the_string_it_replaces(enum, values):
    assert [member.value for member in enum] == values
    for member, value in zip(enum, values, strict=True):
        assert member == value and hash(member) == hash(value)
        assert f"{member}" == str(member) == value
        assert json.dumps({member: member}) == json.dumps({value: value})


def test_a_failed_write_and_a_failed_message_are_two_members_with_one_string():
    assert Outcome.FAILED is not WriteStatus.FAILED
    assert Outcome.FAILED == WriteStatus.FAILED == "failed"


def test_time_fields_name_the_document_fields():
    assert {field: field.document_field for field in TimeField} == {
        "indexed": "indexed_at",
        "event": "event_time",
    }


def _event(action=Action.CREATED, sequencer="0A") -> ObjectEvent:
    return ObjectEvent(action, "photos", "a.jpg", "ObjectCreated:Put", T0, None, 3, "e", None,
                       sequencer)  # fmt: skip


def test_the_built_documents_have_the_typed_shapes_and_the_mapped_fields():
    analysis = ImageAnalysis(labels=[], label_model_version="3.0")
    document = documents.image_document(_event(), analysis, "us-east-1", NOW)
    tombstone = documents.tombstone(_event(Action.REMOVED), NOW)
    # The stored JSON keeps its field order (stores and the API write documents as built).
    assert list(document) == [
        "image_id", "bucket", "key", "s3_uri", "version_id", "event_name", "event_time",
        "sequencer", "deleted", "url", "size", "etag", "indexed_at", "label_model_version",
        "labels", "label_names", "search_text", "image_properties", "text",
        "moderation_labels", "faces", "face_count",
    ]  # fmt: skip
    assert list(tombstone)[-2:] == ["deleted", "indexed_at"]
    assert set(document) == ImageDocument.__required_keys__
    assert set(tombstone) == Tombstone.__required_keys__
    assert set(mapping.MAPPINGS["properties"]) == ImageDocument.__required_keys__


def test_image_analysis_is_re_exported_where_it_was():
    assert rekognition.ImageAnalysis is ImageAnalysis


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        (EventPosition("0B", T0), EventPosition("0A", T0)),
        # Shorter sequencers are right-padded with zeros; case does not matter.
        (EventPosition("0a1", T0), EventPosition("0A", T0)),
        # Without a sequencer on either side, event time decides.
        (EventPosition(None, "2026-01-01T00:00:01.000000Z"), EventPosition("0A", T0)),
    ],
)
def test_a_later_position_is_after_an_earlier_one_and_not_the_reverse(newer, older):
    assert newer.is_after(older) and not older.is_after(newer)


def test_an_equal_position_is_not_after_itself_and_anything_is_after_nothing():
    position = EventPosition("0A", T0)
    assert not position.is_after(EventPosition("0a00", T0))
    assert position.is_after(None)


@pytest.mark.parametrize("sequencer", ["0055AED6DCD90281E5", None])
def test_the_successor_is_after_the_position_and_before_any_later_event(sequencer):
    position = EventPosition(sequencer, T0)
    successor = position.successor()
    later = EventPosition(
        None if sequencer is None else "0055AED6DCD90281E6", "2026-01-01T00:00:00.001000Z"
    )
    assert successor.is_after(position) and later.is_after(successor)


def test_supersedes_is_the_position_rule_on_documents_and_stored_positions():
    stored = EventPosition("0A", T0).as_stored()
    assert documents.supersedes({"sequencer": "0B", "event_time": T0}, stored)
    assert not documents.supersedes(stored, stored)
    assert EventPosition.of(stored) == EventPosition("0A", T0)
