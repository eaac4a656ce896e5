"""Checks a late create against S3 before it is indexed, so that it cannot resurrect an image.

A tombstone keeps an older create from resurrecting a deleted image, and ``compact`` removes
tombstones after ``TOMBSTONE_RETENTION_DAYS``. SQS retention alone does not bound how late a
create can arrive: a message redriven by hand starts a new enqueue time, and a throttled
message's copy (chalicelib/redelivery.py) starts a new retention period. So a create whose
event time is older than the horizon, for an image with no stored state, may be one whose
tombstone is gone; on a versioned bucket its version still exists and Rekognition would read it.

Such an event is indexed only if S3 still serves it: HeadObject on the key (no VersionId: the
current version) must answer, with the event's VersionId for a versioned event or its ETag
otherwise. A deleted key (404, also for a delete marker) or one replaced since is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.events import CREATED, ObjectEvent
from chalicelib.timestamps import canonical_time

NOT_CURRENT = "older than the tombstone horizon and no longer current in S3"
# HeadObject answers 404 for a missing key or a delete marker, and 403 instead when the caller
# lacks s3:ListBucket (S3 API reference, HeadObject): the indexer's role has only
# s3:GetObject(Version) on the objects (localdev/aws/policy.py), so 403 means "not there".
GONE_STATUSES = frozenset({403, 404})


class LateEventCheckFailed(Exception):
    """S3 could not say whether the object is current (throttling, 5xx): retry the message."""


class LateEventCheck:
    """Decides whether a create older than the tombstone horizon may still be indexed."""

    def __init__(
        self,
        s3_client: Callable[[], Any],
        horizon: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        # A factory: the client is built on the first late event only, not at every cold start.
        self._s3 = s3_client
        self._horizon = horizon
        self._clock = clock

    def needs_check(self, event: ObjectEvent) -> bool:
        """A create whose event time is older than the horizon (canonical times sort as text)."""
        oldest_safe = canonical_time(self._clock() - self._horizon)
        return event.action == CREATED and event.event_time < oldest_safe

    def skip_reason(self, event: ObjectEvent) -> str | None:
        """None when ``event`` is still the key's current object in S3, else the reason to skip.
        Raises LateEventCheckFailed when S3 gives no answer either way."""
        try:
            head = self._s3().head_object(Bucket=event.bucket, Key=event.key)
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in GONE_STATUSES:
                return NOT_CURRENT
            raise LateEventCheckFailed(f"HeadObject {event.key!r}: {error}") from error
        except BotoCoreError as error:  # no answer at all (connection, timeout)
            raise LateEventCheckFailed(f"HeadObject {event.key!r}: {error}") from error
        return None if _is_event_version(event, head) else NOT_CURRENT


def _is_event_version(event: ObjectEvent, head: dict) -> bool:
    if event.version_id:
        return head.get("VersionId") == event.version_id
    # S3 quotes the ETag in HeadObject ("\"abc\"") but not in event notifications.
    return head.get("ETag", "").strip('"') == (event.etag or "").strip('"')
