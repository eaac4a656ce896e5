"""The store interface that the handler and the API use, whatever holds the documents.

Two implementations exist because the backends really differ: Elasticsearch/OpenSearch in AWS,
and an embedded store for laptops. One contract test suite holds both to the same behaviour.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.documents import supersedes
from chalicelib.search.query import Filters, LabelCount, SearchPage, SearchQuery
from chalicelib.vocabulary import ImageDocument, StoredDocument, StoredPosition, WriteStatus

# The names the stores and their tests import; the values are WriteStatus's.
WRITTEN = WriteStatus.WRITTEN
STALE = WriteStatus.STALE
FAILED = WriteStatus.FAILED


@dataclass(frozen=True)
class ImageWrite:
    """A document (or tombstone) to store under ``image_id`` if it is newer than what is there."""

    image_id: str
    document: StoredDocument


@dataclass(frozen=True)
class WriteResult:
    status: WriteStatus
    reason: str | None = None


class StoreUnavailable(Exception):
    """The store cannot be reached or did not answer in time."""


class QueryRejected(Exception):
    """The store refused a read as invalid (a cluster 400): the API answers 400, not 500.

    The API validates every parameter so that no valid request gets here; one that does shows
    a gap in that validation and is logged as such.
    """


class ImageStore(ABC):
    @abstractmethod
    def ensure_ready(self) -> None:
        """Create the index (or tables) if missing. Idempotent; called before the first write."""

    @abstractmethod
    def write(self, writes: Sequence[ImageWrite]) -> list[WriteResult]:
        """Apply each write unless the store already holds a newer state of that image.

        Returns one result per write, in order. Never raises for a single bad item: that item's
        result is FAILED with the reason, so the caller can retry exactly its message.
        """

    @abstractmethod
    def stored_positions(self, image_ids: Sequence[str]) -> dict[str, StoredPosition]:
        """The event position (``sequencer``, ``event_time``; EventPosition.of reads it) stored
        for each known image id, tombstones included, so callers can skip stale events before
        doing paid work.

        Raises StoreUnavailable when the store cannot answer.
        """

    @abstractmethod
    def get(self, image_id: str) -> ImageDocument | None:
        """The stored document of a live image; None when unknown or deleted."""

    @abstractmethod
    def live_documents(self, image_ids: Sequence[str]) -> dict[str, ImageDocument]:
        """The stored documents of the live images among ``image_ids`` (one read for them all);
        unknown ids and tombstones are left out.

        Raises StoreUnavailable when the store cannot answer.
        """

    @abstractmethod
    def remove_tombstones(self, written_before: str) -> int:
        """Delete the tombstones written (``indexed_at``) before ``written_before``, a canonical
        time; returns how many. Live documents are never removed, nor a tombstone that a newer
        state replaces while this runs.

        Raises StoreUnavailable when the store cannot answer.
        """

    @abstractmethod
    def search(self, query: SearchQuery) -> SearchPage:
        """Live images matching the query, in the query's order, one page at a time.

        Raises StoreUnavailable when the store cannot answer.
        """

    @abstractmethod
    def label_counts(self, filters: Filters, prefix: str | None, size: int) -> list[LabelCount]:
        """The most frequent label and parent names among matching images (count desc, name
        asc), optionally only names starting with ``prefix`` (case-insensitive)."""

    @abstractmethod
    def ping(self) -> bool:
        """True when the store answers."""


def newest_per_image(writes: Sequence[ImageWrite]) -> tuple[dict[str, int], dict[int, WriteResult]]:
    """Resolve several writes for one image inside a batch before touching the store.

    Returns the index of the newest write per image id, and a STALE result for every write that
    a newer write of the same batch supersedes (for example a create followed by its delete).
    """
    newest: dict[str, int] = {}
    superseded: dict[int, WriteResult] = {}
    stale = WriteResult(STALE, "superseded by a newer event in the same batch")
    for index, write in enumerate(writes):
        previous = newest.get(write.image_id)
        if previous is None or supersedes(write.document, writes[previous].document):
            if previous is not None:
                superseded[previous] = stale
            newest[write.image_id] = index
        else:
            superseded[index] = stale
    return newest, superseded
