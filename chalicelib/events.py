"""Turn the body of one SQS message into the S3 object events it describes.

The queue can be fed three ways, and each wraps the same facts differently:

* S3 event notifications sent straight to the queue (or through SNS with raw delivery):
  ``{"Records": [...]}``.
* S3 -> SNS -> SQS without raw delivery: an SNS envelope whose ``Message`` is the JSON above,
  as a string.
* S3 -> EventBridge -> rule -> SQS: an EventBridge event with ``source`` ``aws.s3``.

This module is pure (standard library only, no AWS calls) so that every shape can be tested
from literal payloads. The handler decides what to do with a ``MalformedMessage``: such a
message can never succeed, so it belongs in the dead-letter queue, not in a retry loop.
Events that are well formed but change nothing in the index (the ``s3:TestEvent``, restores,
tag changes, ...) come back as ``IgnoredEvent``s that say why, so each skip is logged with its
event name, bucket and key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from chalicelib.timestamps import canonical_time
from chalicelib.vocabulary import Action

__all__ = [
    "CREATED",
    "MAX_RECORDS_PER_MESSAGE",
    "REMOVED",
    "IgnoredEvent",
    "MalformedMessage",
    "Message",
    "ObjectEvent",
    "parse_message",
    "read_message",
]

# The names the callers import; the values are Action's.
CREATED = Action.CREATED
REMOVED = Action.REMOVED

JsonObject = dict[str, Any]

# S3 and SNS deliver one record per notification and EventBridge one event per message, so
# anything near this limit is not S3 talking. Each record can cost a Rekognition call: with
# ten messages per batch and ten concurrent calls, 10 records per message keeps a batch at
# about ten rounds of calls, far inside the function's 60 s timeout, where hundreds would time
# the whole batch out (and retry its good messages with it).
MAX_RECORDS_PER_MESSAGE = 10

# S3's limits: keys are at most 1,024 bytes of UTF-8. Bucket names follow the legacy rules
# (us-east-1 still has buckets with capitals and underscores), which never allow "/": the
# image id hashes "bucket/key", so a slash in a bucket name could collide with another key.
MAX_KEY_BYTES = 1024
_BUCKET_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")


class MalformedMessage(ValueError):
    """The body is not JSON or has no shape we know; the message must go to the DLQ."""


@dataclass(frozen=True)
class ObjectEvent:
    """One object that was created or removed, whatever the delivery path."""

    action: Action
    bucket: str
    key: str  # fully decoded object key, usable as-is in S3/Rekognition calls
    event_name: str  # "ObjectCreated:Put", "ObjectRemoved:Delete", or EventBridge "Object Created"
    event_time: str  # canonical ISO-8601 UTC (chalicelib.timestamps), comparable as a string
    region: str | None
    size: int | None  # bytes; removal events carry no size
    etag: str | None
    version_id: str | None  # None when the object has no real version
    sequencer: str | None  # orders events for the same key; meaningless across keys


@dataclass(frozen=True)
class IgnoredEvent:
    """A well-formed event that changes nothing in the index, and why (for the skip's log line).

    The names are read best-effort: an ignored record is not validated, so a field may be None.
    """

    reason: str
    event_name: str | None = None
    bucket: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Message:
    """What one SQS message asks for: object events to apply, and events skipped on purpose."""

    events: list[ObjectEvent] = field(default_factory=list)
    ignored: list[IgnoredEvent] = field(default_factory=list)


def read_message(body: str) -> Message:
    """The events of one message body, and the events it carries that need no work.

    Raises MalformedMessage (with a short human-readable reason) for otherwise-unusable bodies.
    All or nothing: if any record we would act on is unusable, the whole message is malformed,
    because an SQS message is retried or dead-lettered as one unit.
    """
    return _parse_document(_load_json(body, "message body"))


def parse_message(body: str) -> list[ObjectEvent]:
    """Only the object events of ``read_message``: [] for a message that needs no work."""
    return read_message(body).events


# --- shape dispatch -------------------------------------------------------------------------


def _parse_document(document: Any) -> Message:
    if not isinstance(document, dict):
        raise MalformedMessage(f"expected a JSON object, got {_json_type(document)}")
    for matches, parse in _SHAPES:
        if matches(document):
            return parse(document)
    raise MalformedMessage(f"unknown message shape (top-level fields: {_field_list(document)})")


def _is_s3_test_event(document: JsonObject) -> bool:
    return document.get("Event") == "s3:TestEvent"


def _parse_s3_test_event(document: JsonObject) -> Message:
    # S3 sends this once when a notification configuration is saved, to prove it can deliver.
    # It names no object, so there is nothing to do but acknowledge it.
    reason = "s3:TestEvent: S3 checking that it can deliver to the queue; names no object"
    return Message(ignored=[IgnoredEvent(reason, "s3:TestEvent", _peek(document, "Bucket"))])


def _is_sns_envelope(document: JsonObject) -> bool:
    return document.get("Type") == "Notification"


def _parse_sns_envelope(document: JsonObject) -> Message:
    # Without raw message delivery, SNS wraps the publisher's payload as a *string* in
    # "Message". Other SNS types (SubscriptionConfirmation, ...) need a human, so they fall
    # through to "unknown shape".
    message = document.get("Message")
    if not isinstance(message, str):
        raise MalformedMessage("SNS notification has no string Message")
    inner = _load_json(message, "SNS Message")
    if isinstance(inner, dict) and _is_sns_envelope(inner):
        raise MalformedMessage("SNS notification wraps another SNS notification")
    return _parse_document(inner)


def _is_s3_notification(document: JsonObject) -> bool:
    return "Records" in document


def _parse_s3_notification(document: JsonObject) -> Message:
    records = document["Records"]
    if not isinstance(records, list) or not records:
        raise MalformedMessage("Records is not a non-empty list")
    if len(records) > MAX_RECORDS_PER_MESSAGE:
        # Not malformed (retrying cannot change it) and not read: skipped whole, with a reason.
        reason = (
            f"the message carries {len(records)} Records; at most {MAX_RECORDS_PER_MESSAGE} "
            "are read per message (S3 sends one)"
        )
        return Message(ignored=[IgnoredEvent(reason)])
    message = Message()
    for index, record in enumerate(records):
        parsed = _parse_s3_record(record, f"Records[{index}]")
        if isinstance(parsed, IgnoredEvent):
            message.ignored.append(parsed)
        else:
            message.events.append(parsed)
    return message


def _is_eventbridge_event(document: JsonObject) -> bool:
    return "detail-type" in document


def _parse_eventbridge_event(document: JsonObject) -> Message:
    source = document.get("source")
    if source != "aws.s3":
        raise MalformedMessage(f"EventBridge event from unexpected source {source!r}")
    detail_type = _required_str(document, "detail-type", "event")
    action = _EVENTBRIDGE_ACTIONS.get(detail_type)
    if action is None:
        # Restores, tag and ACL changes, storage-class moves: nothing for the index to do.
        reason = (
            f"unsupported EventBridge detail-type {detail_type!r}: only "
            f"{' and '.join(map(repr, _EVENTBRIDGE_ACTIONS))} change the index"
        )
        ignored = IgnoredEvent(
            reason,
            detail_type,
            _peek(document, "detail", "bucket", "name"),
            _peek_key(document, "detail", "object", "key"),
        )
        return Message(ignored=[ignored])
    detail = _required_dict(document, "detail", "event")
    bucket = _required_dict(detail, "bucket", "detail")
    obj = _required_dict(detail, "object", "detail")
    event = ObjectEvent(
        action=action,
        bucket=_bucket_name(bucket, "name", "detail.bucket"),
        key=_eventbridge_key(_required_str(obj, "key", "detail.object"), "detail.object"),
        event_name=detail_type,
        event_time=_event_time(document, "time", "event"),
        region=_optional_str(document, "region", "event"),
        size=_optional_int(obj, "size", "detail.object"),
        etag=_optional_str(obj, "etag", "detail.object"),
        version_id=_version_id(obj, "version-id", "detail.object"),
        sequencer=_optional_str(obj, "sequencer", "detail.object"),
    )
    return Message(events=[event])


# Checked in order; the first predicate that matches owns the document.
_Shape = tuple[Callable[[JsonObject], bool], Callable[[JsonObject], Message]]
_SHAPES: tuple[_Shape, ...] = (
    (_is_s3_test_event, _parse_s3_test_event),
    (_is_sns_envelope, _parse_sns_envelope),
    (_is_s3_notification, _parse_s3_notification),
    (_is_eventbridge_event, _parse_eventbridge_event),
)


# --- S3 notification records ----------------------------------------------------------------

# Notification event names carry no "s3:" prefix ("ObjectCreated:Put", not
# "s3:ObjectCreated:Put" as in the bucket configuration).
_S3_ACTION_PREFIXES = (("ObjectCreated:", Action.CREATED), ("ObjectRemoved:", Action.REMOVED))

# Lifecycle expiration deletes the object (or, in a versioned bucket, hides it behind a delete
# marker) just like a DeleteObject call, but is reported under its own event name.
_S3_LIFECYCLE_REMOVALS = frozenset(
    {"LifecycleExpiration:Delete", "LifecycleExpiration:DeleteMarkerCreated"}
)

# EventBridge reports lifecycle expiration as "Object Deleted" (reason "Lifecycle
# Expiration"), so two detail-types cover everything we index.
_EVENTBRIDGE_ACTIONS = {"Object Created": Action.CREATED, "Object Deleted": Action.REMOVED}


def _s3_action(event_name: str) -> Action | None:
    """The action, or None for event types the index does not care about."""
    if event_name in _S3_LIFECYCLE_REMOVALS:
        return Action.REMOVED
    for prefix, action in _S3_ACTION_PREFIXES:
        if event_name.startswith(prefix):
            return action
    return None


def _parse_s3_record(record: Any, where: str) -> ObjectEvent | IgnoredEvent:
    if not isinstance(record, dict):
        raise MalformedMessage(f"{where} is {_json_type(record)}, not an object")
    if record.get("eventSource") != "aws:s3":
        raise MalformedMessage(
            f"{where}.eventSource is {record.get('eventSource')!r}, not 'aws:s3'"
        )
    event_name = _required_str(record, "eventName", where)
    action = _s3_action(event_name)
    if action is None:
        # Ignored records are not inspected further: a quirk in a record we would skip anyway
        # should not send the whole message to the DLQ. Bucket and key are only peeked at.
        reason = (
            f"unsupported event type {event_name}: only ObjectCreated:*, ObjectRemoved:* and "
            "LifecycleExpiration:Delete* change the index"
        )
        return IgnoredEvent(
            reason,
            event_name,
            _peek(record, "s3", "bucket", "name"),
            _peek_key(record, "s3", "object", "key"),
        )
    s3 = _required_dict(record, "s3", where)
    bucket = _required_dict(s3, "bucket", f"{where}.s3")
    obj = _required_dict(s3, "object", f"{where}.s3")
    where_obj = f"{where}.s3.object"
    return ObjectEvent(
        action=action,
        bucket=_bucket_name(bucket, "name", f"{where}.s3.bucket"),
        key=_decode_s3_key(_required_str(obj, "key", where_obj), where_obj),
        event_name=event_name,
        event_time=_event_time(record, "eventTime", where),
        region=_optional_str(record, "awsRegion", where),
        size=_optional_int(obj, "size", where_obj),
        etag=_optional_str(obj, "eTag", where_obj),
        version_id=_version_id(obj, "versionId", where_obj),
        sequencer=_optional_str(obj, "sequencer", where_obj),
    )


# --- object keys ----------------------------------------------------------------------------


def _decode_s3_key(raw: str, where: str) -> str:
    """Decode a notification key, which S3 sends form-encoded (application/x-www-form-urlencoded).

    A space arrives as "+", a literal "+" as "%2B", non-ASCII as %-escaped UTF-8 bytes, and "/"
    may arrive either as-is or as "%2F". unquote_plus undoes all of these. S3 keys are always
    valid UTF-8, so a bad escape means a corrupted message, not a key to guess at.
    """
    try:
        key = unquote_plus(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"{where}.key {raw!r} is not valid %-encoded UTF-8") from exc
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise MalformedMessage(f"{where}.key is longer than S3's {MAX_KEY_BYTES}-byte key limit")
    return key


def _eventbridge_key(raw: str, where: str) -> str:
    """Decode an EventBridge object key the same way as a notification key.

    The S3 user guide documents URL-encoding only for the notification format; its EventBridge
    page neither confirms nor denies it and its examples need no encoding. Powertools for AWS
    Lambda, which AWS maintains, unquote_plus-decodes EventBridge keys as well, and we follow
    it (moto, by contrast, sends EventBridge keys raw). Keys without "+" or "%" decode to
    themselves either way. This is the one place to change if real events prove otherwise.
    """
    return _decode_s3_key(raw, where)


# --- field helpers ---------------------------------------------------------------------------


def _load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for bytes input
        raise MalformedMessage(f"{what} is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # pathologically deep nesting
        raise MalformedMessage(f"{what} is nested too deeply to be an event") from exc


def _required_dict(mapping: JsonObject, field: str, where: str) -> JsonObject:
    value = mapping.get(field)
    if not isinstance(value, dict):
        raise MalformedMessage(f"{where}.{field} is missing or not an object")
    return value


def _required_str(mapping: JsonObject, field: str, where: str) -> str:
    value = mapping.get(field)
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"{where}.{field} is missing or not a non-empty string")
    return _text(value, field, where)


def _text(value: str, field: str, where: str) -> str:
    # JSON's \ud800 escapes decode to lone surrogates, which no UTF-8 encoder accepts: the image
    # id, the stores and the logs would each fail on them later, far from the message.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedMessage(
            f"{where}.{field} {value[:100]!r} is not valid Unicode text"
        ) from None
    return value


def _bucket_name(mapping: JsonObject, field: str, where: str) -> str:
    value = _required_str(mapping, field, where)
    if not _BUCKET_NAME.fullmatch(value):
        raise MalformedMessage(f"{where}.{field} {value!r} is not an S3 bucket name")
    return value


def _event_time(mapping: JsonObject, field: str, where: str) -> str:
    raw = _required_str(mapping, field, where)
    try:
        return canonical_time(raw)
    except ValueError as exc:  # InvalidTime: bad text, or outside the window timestamps allows
        raise MalformedMessage(f"{where}.{field} is not an ISO-8601 time: {exc}") from exc


def _optional_str(mapping: JsonObject, field: str, where: str) -> str | None:
    """A string field that may be absent; absent, null and "" all mean "not given"."""
    value = mapping.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedMessage(f"{where}.{field} is {_json_type(value)}, not a string")
    return _text(value, field, where)


def _optional_int(mapping: JsonObject, field: str, where: str) -> int | None:
    value = mapping.get(field)
    if value is None:
        return None
    # bool is an int subclass in Python; JSON true/false is never a size. The upper bound is
    # the index's long field: a larger number would fail the write instead of the parse.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise MalformedMessage(f"{where}.{field} is {value!r}, not a byte count")
    return value


def _version_id(mapping: JsonObject, field: str, where: str) -> str | None:
    # S3 gives objects written while versioning was off or suspended the version ID "null" (the
    # literal string). It names no distinct version, so callers get None: "the object at key".
    version_id = _optional_str(mapping, field, where)
    return None if version_id == "null" else version_id


_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    """Name a decoded JSON value's type for error messages."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _peek(document: Any, *path: str) -> str | None:
    """A string found at ``path`` for a skip's log line, without judging the rest of the record;
    None when absent or not printable as UTF-8."""
    value = document
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    if not isinstance(value, str):
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _peek_key(document: Any, *path: str) -> str | None:
    raw = _peek(document, *path)
    return None if raw is None else unquote_plus(raw, errors="replace")


def _field_list(document: JsonObject) -> str:
    fields = sorted(document)[:8]
    return ", ".join(fields) if fields else "none"
