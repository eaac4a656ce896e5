"""Turns one batch of SQS messages into labelled documents in the store.

The contract with Lambda's SQS event source: the returned message ids are exactly the messages
that must be delivered again (and, after the queue's maxReceiveCount, end in its dead-letter
queue). Everything else is acknowledged: indexed, deleted, or skipped with a logged reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib import documents
from chalicelib.eligibility import skip_reason
from chalicelib.events import CREATED, MalformedMessage, ObjectEvent, parse_message
from chalicelib.rekognition import ImageAnalysis, RekognitionLabeler, UnprocessableImage
from chalicelib.store.base import FAILED, STALE, ImageStore, ImageWrite, StoreUnavailable

INDEXED, DELETED, SKIPPED = "indexed", "deleted", "skipped"


@dataclass
class _Work:
    """One object event of one message, and what became of it."""

    message_id: str
    event: ObjectEvent
    analysis: ImageAnalysis | None = None
    outcome: str | None = None
    reason: str | None = None

    @property
    def image_id(self) -> str:
        return documents.image_id(self.event.bucket, self.event.key)


class BatchIngestor:
    def __init__(
        self,
        labeler: RekognitionLabeler,
        store: ImageStore,
        executor: Executor,
        region: str,
        logger: logging.Logger,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._labeler = labeler
        self._store = store
        self._executor = executor
        self._region = region
        self._log = logger
        self._clock = clock

    def process(self, records: Iterable[Mapping]) -> list[str]:
        """Handle one batch of Lambda SQS records; return the ids of messages to retry."""
        records = list(records)
        work: list[_Work] = []
        failed: set[str] = set()
        for record in records:
            message_id = record["messageId"]
            try:
                events = parse_message(record.get("body") or "")
            except MalformedMessage as error:
                failed.add(message_id)
                self._log_message(FAILED, message_id, f"malformed message: {error}")
                continue
            if not events:
                self._log_message(
                    SKIPPED, message_id, "no object events (for example s3:TestEvent)"
                )
            work.extend(_Work(message_id, event) for event in events)

        self._skip_stale(work)
        self._label_all(
            [item for item in work if item.outcome is None and item.event.action == CREATED]
        )
        self._store_all([item for item in work if item.outcome is None])

        for item in work:
            self._log_work(item)
            if item.outcome == FAILED:
                failed.add(item.message_id)
        # Keep the order of the batch, which makes logs and tests easier to read.
        return [record["messageId"] for record in records if record["messageId"] in failed]

    def _skip_stale(self, items: list[_Work]) -> None:
        """Skip events that the store already holds a newer state for, before paying Rekognition.

        Redelivered and late events are common (SQS delivers at least once; a failed batch is
        retried whole), and each would otherwise cost a Rekognition call whose result the store
        then refuses. When the store cannot answer, nothing can be written either: the batch
        fails now, without calling Rekognition, and is retried later.
        """
        ids = {item.image_id for item in items}
        try:
            stored = self._store.stored_positions(sorted(ids))
        except StoreUnavailable as error:
            for item in items:
                item.outcome, item.reason = FAILED, f"search store unavailable: {error}"
            return
        for item in items:
            current = stored.get(item.image_id)
            position = {"sequencer": item.event.sequencer, "event_time": item.event.event_time}
            if current and not documents.supersedes(position, current):
                item.outcome = SKIPPED
                item.reason = "stale event: a newer or equal state is already stored"

    def _label_all(self, items: list[_Work]) -> None:
        for item in items:
            reason = skip_reason(item.event)
            if reason:
                item.outcome, item.reason = SKIPPED, reason
        to_label = [item for item in items if item.outcome is None]
        # Rekognition calls dominate the batch's time: run them side by side in a bounded pool.
        for item, result in zip(to_label, self._executor.map(self._analyze, to_label), strict=True):
            if isinstance(result, ImageAnalysis):
                item.analysis = result
            elif isinstance(result, UnprocessableImage):
                item.outcome, item.reason = SKIPPED, result.reason
            else:
                item.outcome, item.reason = FAILED, f"Rekognition error: {result}"

    def _analyze(self, item: _Work) -> ImageAnalysis | Exception:
        event = item.event
        try:
            return self._labeler.analyze(event.bucket, event.key, event.version_id)
        except Exception as error:  # reported per message, never fails the whole batch
            return error

    def _store_all(self, items: list[_Work]) -> None:
        if not items:
            return
        now = self._clock()
        writes = [
            ImageWrite(
                item.image_id,
                documents.image_document(item.event, item.analysis, self._region, now)
                if item.analysis
                else documents.tombstone(item.event, now),
            )
            for item in items
        ]
        for item, result in zip(items, self._store.write(writes), strict=True):
            if result.status == FAILED:
                item.outcome, item.reason = FAILED, result.reason
            elif result.status == STALE:
                item.outcome, item.reason = SKIPPED, f"stale event: {result.reason}"
            else:
                item.outcome = INDEXED if item.analysis else DELETED

    def _log_message(self, outcome: str, message_id: str, reason: str) -> None:
        self._log.log(
            logging.WARNING if outcome == FAILED else logging.INFO,
            f"message {outcome}",
            extra={"outcome": outcome, "reason": reason, "message_id": message_id},
        )

    def _log_work(self, item: _Work) -> None:
        event = item.event
        self._log.log(
            logging.WARNING if item.outcome == FAILED else logging.INFO,
            f"image {item.outcome}",
            extra={
                "outcome": item.outcome,
                "reason": item.reason,
                "message_id": item.message_id,
                "bucket": event.bucket,
                "key": event.key,
                "event_name": event.event_name,
                "image_id": item.image_id,
                "labels": [label["name"] for label in item.analysis.labels]
                if item.analysis and item.outcome == INDEXED
                else None,
            },
        )
