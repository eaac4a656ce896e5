"""``relabel``: label live images again (after enabling DETECT_TEXT, or a new Rekognition label
model), through the normal pipeline, never bringing a deleted image back.

Candidates are the bucket's objects under the prefix (so the object exists) whose stored
document is live (not a tombstone), optionally only those last indexed before ``--since``, and
whose ETag is still the indexed one (a changed object has its own event on the way). Each gets
a synthetic ``ObjectCreated:Relabel`` event at the *successor* of the stored position, which the
function's ordering rule (chalicelib/vocabulary.py ``EventPosition``) decides on like any event:

* the stored state itself is older, so the relabel is not dropped as a redelivery;
* any later real event of the key (a delete, a new upload) is newer than the relabel.

With a sequencer S the successor is S + 16 zeros + "1": after the zero-padding that
``supersedes`` applies, it is above S, and below every later sequencer except one that starts
with S followed by 16 or more zeros (AWS's examples are 16 to 20 hex digits; no string lies
strictly between S and all of its successors, so some such guard is needed).
Without a sequencer (backfilled or emulated events) events order by time: the successor is one
microsecond later, below any later S3 event time (S3 writes milliseconds). So a delete that
arrives after the relabel wins, and a relabel that arrives after the delete is stale.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.documents import image_id
from chalicelib.events import CREATED, ObjectEvent
from chalicelib.store.base import ImageStore
from chalicelib.vocabulary import EventPosition
from localdev.backfill import (
    OutgoingMessage,
    Pacer,
    QueueSender,
    list_pages,
    notification_body,
    send_all,
)
from localdev.progress import ProgressBar

RELABEL_EVENT = "ObjectCreated:Relabel"
NOT_LIVE = "not indexed, or deleted"
INDEXED_SINCE = "indexed at or after --since"
CHANGED = "changed since it was indexed (its own event indexes it)"


@dataclass
class RelabelPlan:
    skipped: Counter = field(default_factory=Counter)  # reason -> objects


def successor_position(stored: Mapping[str, Any]) -> tuple[str | None, str]:
    """(sequencer, event_time) just after the stored position and before any later event."""
    successor = EventPosition.of(stored).successor()
    return successor.sequencer, successor.event_time


def relabel_event(document: Mapping[str, Any], region: str) -> ObjectEvent:
    sequencer, event_time = successor_position(document)
    return ObjectEvent(
        action=CREATED,
        bucket=document["bucket"],
        key=document["key"],
        event_name=RELABEL_EVENT,
        event_time=event_time,
        region=region,
        size=document.get("size"),
        etag=document.get("etag"),
        version_id=document.get("version_id"),
        sequencer=sequencer,
    )


def _same_etag(stored: str | None, listed: str) -> bool:
    # S3 event notifications carry the ETag bare, listings carry it quoted.
    return stored is None or stored.strip('"') == listed.strip('"')


def relabel_messages(
    s3, store: ImageStore, bucket: str, prefix: str, since: str | None, region: str,
    plan: RelabelPlan,
) -> Iterator[OutgoingMessage]:  # fmt: skip
    for page in list_pages(s3, bucket, prefix):
        listed = {image_id(bucket, obj.key): obj for obj in page}
        live = store.live_documents(list(listed))
        for id_, obj in listed.items():
            document = live.get(id_)
            if document is None:
                plan.skipped[NOT_LIVE] += 1
            elif since and document["indexed_at"] >= since:
                plan.skipped[INDEXED_SINCE] += 1
            elif not _same_etag(document.get("etag"), obj.etag):
                plan.skipped[CHANGED] += 1
            else:
                yield OutgoingMessage(obj.key, notification_body(relabel_event(document, region)))


def relabel(
    s3,
    sqs,
    store: ImageStore,
    *,
    bucket: str,
    queue_url: str,
    prefix: str,
    since: str | None,
    region: str,
    rate: float | None = None,
    stream=None,
    sleep=time.sleep,
):
    """Enqueue a relabel event per candidate; returns (BackfillResult, RelabelPlan)."""
    plan = RelabelPlan()
    messages = relabel_messages(s3, store, bucket, prefix, since, region, plan)
    sender = QueueSender(sqs, queue_url, Pacer(rate, sleep=sleep), sleep=sleep)
    result = send_all(messages, sender, ProgressBar("relabel", stream=stream))
    return result, plan
