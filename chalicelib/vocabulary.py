"""The words every module shares: what an event asks for, what became of it, what a store
answered, the shapes of a stored document, and the rule that orders one key's events.

Each enum's values are the strings that cross JSON, logs, metrics and stored documents, so a
member compares, hashes and serializes exactly as the bare string it replaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, TypedDict

from chalicelib.timestamps import canonical_time


class Action(StrEnum):
    """What an object event does to the index."""

    CREATED = "created"
    REMOVED = "removed"


class Outcome(StrEnum):
    """What became of one event (or message) of a batch: its log line's ``outcome``."""

    INDEXED = "indexed"
    DELETED = "deleted"
    SKIPPED = "skipped"
    # Rekognition still throttled after botocore's retries (see chalicelib/redelivery.py).
    THROTTLED = "throttled"
    FAILED = "failed"  # the message is delivered again


class WriteStatus(StrEnum):
    """A store's answer for one write (``WriteResult.status``)."""

    WRITTEN = "written"
    STALE = "stale"  # an equal or newer state is already stored
    FAILED = "failed"  # this write alone did not happen; its message is retried


class Match(StrEnum):
    """How several requested labels combine."""

    ALL = "all"
    ANY = "any"


class Sort(StrEnum):
    RELEVANCE = "relevance"
    CONFIDENCE = "confidence"
    NEWEST = "newest"


class TimeField(StrEnum):
    """Which time ``since`` and ``until`` restrict."""

    INDEXED = "indexed"
    EVENT = "event"

    @property
    def document_field(self) -> str:
        """The document's (and the index's) field of this time."""
        return {"indexed": "indexed_at", "event": "event_time"}[self.value]


# -- the stored document (chalicelib.documents builds it; chalicelib.store.mapping indexes it) --


class BoundingBox(TypedDict):
    width: float
    height: float
    left: float
    top: float


class LabelInstance(TypedDict):
    confidence: float
    bounding_box: BoundingBox


class Label(TypedDict):
    name: str
    confidence: float  # 0-100
    parents: list[str]
    aliases: list[str]
    categories: list[str]
    instances: list[LabelInstance]


class TextLine(TypedDict):
    text: str
    confidence: float


class ModerationLabel(TypedDict):
    name: str
    parent: str | None
    confidence: float


class Face(TypedDict):
    confidence: float
    bounding_box: BoundingBox


class ImageQuality(TypedDict):
    brightness: float | None
    sharpness: float | None
    contrast: float | None


class DominantColor(TypedDict):
    hex: str | None
    css_color: str | None
    simplified_color: str | None
    pixel_percent: float | None


class ImageProperties(TypedDict):
    quality: ImageQuality
    dominant_colors: list[DominantColor]


class StoredPosition(TypedDict):
    """The fields of a stored document that EventPosition reads (``stored_positions``)."""

    sequencer: str | None
    event_time: str


class EventIdentity(TypedDict):
    """The fields of every stored document that name the image and the event it is from."""

    image_id: str
    bucket: str
    key: str
    s3_uri: str
    version_id: str | None
    event_name: str
    event_time: str  # canonical time
    sequencer: str | None


class ImageDocument(EventIdentity):
    """The stored document of a live image."""

    deleted: Literal[False]
    indexed_at: str  # canonical time
    url: str
    size: int | None
    etag: str | None
    label_model_version: str | None
    labels: list[Label]
    label_names: list[str]
    search_text: list[str]
    image_properties: ImageProperties | None
    text: list[TextLine] | None
    moderation_labels: list[ModerationLabel] | None
    faces: list[Face] | None
    face_count: int | None


class Tombstone(EventIdentity):
    """What a delete leaves: the key's position in its event order, so that a late or
    redelivered create cannot resurrect the image."""

    deleted: Literal[True]
    indexed_at: str  # canonical time: when the delete was applied


StoredDocument = ImageDocument | Tombstone


@dataclass
class ImageAnalysis:
    """What the labeler said about one image, in the document's field names."""

    labels: list[Label]
    label_model_version: str | None
    image_properties: ImageProperties | None = None
    text: list[TextLine] | None = None
    moderation_labels: list[ModerationLabel] | None = None
    faces: list[Face] | None = None


# -- the order of one key's events ----------------------------------------------------------------

# A relabel's successor sequencer is S + this + "1" (see EventPosition.successor).
SEQUENCER_GUARD = "0" * 16


@dataclass(frozen=True)
class EventPosition:
    """Where an event (or a stored state) stands in its key's event order.

    S3's sequencer orders the events of one key. AWS documents that sequencers may differ in
    length and must be compared after right-padding the shorter one with zeros. Events that
    carry no sequencer (synthetic backfill events, some emulators) fall back to event time.
    An equal position is not newer: a redelivered event changes nothing.
    """

    sequencer: str | None
    event_time: str  # canonical time, comparable as a string

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> EventPosition:
        """The position of a document, a stored position or any mapping with both fields."""
        return cls(fields.get("sequencer"), fields["event_time"])

    def is_after(self, other: EventPosition | None) -> bool:
        """True when this is a later state of the key than ``other`` (None: nothing stored)."""
        if other is None:
            return True
        if self.sequencer and other.sequencer:
            width = max(len(self.sequencer), len(other.sequencer))
            padded = self.sequencer.upper().ljust(width, "0")
            return padded > other.sequencer.upper().ljust(width, "0")
        return self.event_time > other.event_time

    def successor(self) -> EventPosition:
        """A position just after this one and before any later real event of the key.

        With a sequencer S: S + 16 zeros + "1", which the zero-padding puts above S and below
        every later sequencer except one that starts with S followed by 16 or more zeros (AWS's
        examples are 16 to 20 hex digits; no string lies strictly between S and all of its
        successors, so some such guard is needed). Without one, events order by time: one
        microsecond later, below any later S3 event time (S3 writes milliseconds).
        """
        moment = datetime.fromisoformat(self.event_time) + timedelta(microseconds=1)
        sequencer = f"{self.sequencer}{SEQUENCER_GUARD}1" if self.sequencer else None
        return EventPosition(sequencer, canonical_time(moment))

    def as_stored(self) -> StoredPosition:
        return {"sequencer": self.sequencer, "event_time": self.event_time}
