"""The index document for one image, its id, and the rule that decides which state is newer.

Every store keeps one document per (bucket, key). A delete does not remove that document: it
replaces it with a tombstone (``deleted: true``) that remembers the delete's position in the
key's event order, so a late or redelivered create can never resurrect the image.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from chalicelib.events import ObjectEvent
from chalicelib.timestamps import canonical_time
from chalicelib.vocabulary import (
    EventIdentity,
    EventPosition,
    ImageAnalysis,
    ImageDocument,
    Tombstone,
)

_Document = TypeVar("_Document", bound=Mapping[str, Any])


class InvalidDocument(ValueError):
    """A document neither store could take; only its own message fails."""


def image_id(bucket: str, key: str) -> str:
    """Deterministic document id: a redelivered event overwrites instead of duplicating."""
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()


def supersedes(incoming: Mapping[str, Any], current: Mapping[str, Any] | None) -> bool:
    """True when ``incoming`` (a document or a stored position) describes a later state of the
    key than ``current``: the rule of EventPosition.is_after, read from their fields."""
    return EventPosition.of(incoming).is_after(
        None if current is None else EventPosition.of(current)
    )


def storable(document: _Document) -> _Document:
    """``document``, once checked to be strict JSON in UTF-8, which both stores need.

    A NaN or an infinity (not JSON at all) or a lone surrogate (not UTF-8) would otherwise fail
    the whole bulk request, and with it every other message of the batch.
    """
    try:
        json.dumps(document, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, TypeError, RecursionError) as error:  # UnicodeEncodeError included
        raise InvalidDocument(f"the document is not storable JSON: {error}"[:300]) from None
    return document


def object_url(region: str, bucket: str, key: str) -> str:
    """The path-style https URL the original guide stored (not public: the bucket is private)."""
    return f"https://s3.{region}.amazonaws.com/{bucket}/{quote(key)}"


def _identity(event: ObjectEvent) -> EventIdentity:
    return {
        "image_id": image_id(event.bucket, event.key),
        "bucket": event.bucket,
        "key": event.key,
        "s3_uri": f"s3://{event.bucket}/{event.key}",
        "version_id": event.version_id,
        "event_name": event.event_name,
        "event_time": event.event_time,
        "sequencer": event.sequencer,
    }


def image_document(
    event: ObjectEvent, analysis: ImageAnalysis, region: str, indexed_at: datetime
) -> ImageDocument:
    """``region`` is the stage's: the bucket that the stage reads is in the function's region
    (Rekognition reads S3 objects of its own region only), whatever a message claims."""
    label_names = _unique(
        name for label in analysis.labels for name in (label["name"], *label["parents"])
    )
    search_words = _unique(
        [
            *(word for label in analysis.labels for word in (label["name"], *label["aliases"])),
            *(line["text"] for line in analysis.text or []),
        ]
    )
    return {
        **_identity(event),
        "deleted": False,
        "url": object_url(region, event.bucket, event.key),
        "size": event.size,
        "etag": event.etag,
        "indexed_at": canonical_time(indexed_at),
        "label_model_version": analysis.label_model_version,
        "labels": analysis.labels,
        "label_names": label_names,
        "search_text": search_words,
        "image_properties": analysis.image_properties,
        "text": analysis.text,
        "moderation_labels": analysis.moderation_labels,
        "faces": analysis.faces,
        "face_count": None if analysis.faces is None else len(analysis.faces),
    }


def tombstone(event: ObjectEvent, indexed_at: datetime) -> Tombstone:
    return {**_identity(event), "deleted": True, "indexed_at": canonical_time(indexed_at)}


def _unique(values: Iterable[str]) -> list[str]:
    """Distinct values in first-seen order (dict keys keep insertion order)."""
    return list(dict.fromkeys(values))
