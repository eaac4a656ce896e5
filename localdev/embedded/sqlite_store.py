"""The embedded image store on SQLite, used when no search endpoint is configured (local runs).

It answers exactly like ElasticsearchStore: the shared contract suite runs against both. The
definitions it reproduces live in chalicelib.search.query (scores) and es_queries (matching,
filters, sorts); the write rule is chalicelib.documents.supersedes, called as is.

Schema (one database file, WAL mode, created on first use; ``PRAGMA user_version`` = LAYOUT)::

    images         one row per image id, with an integer ``id`` that the other tables use: the
                   deleted flag (tombstones stay, so a late create cannot resurrect an image)
                   and the fields that filters and sorts read: bucket, key, indexed_at and
                   event_time (canonical strings, which compare correctly as text; searches
                   cut them to the millisecond, as the index does), sequencer, and
                   top_confidence (the highest label confidence, for the confidence sort).
    documents      (image, document): the JSON document as written, deflated with a preset
                   dictionary of the document's field names (a bench.corpus document: 3.1 KB
                   of JSON as v1 stored it, 0.6 KB deflated).
    terms, names, words
                   each distinct value once, with an integer id: folded label terms (names,
                   parents, aliases; query.fold), label names in display casing, and the
                   words of search_text. terms and names count the live images that have
                   them: names.images answers an unfiltered /labels without reading an image.
    label_hits     (term, image) -> best, best_name: the highest confidence among the image's
                   labels that have the term as name, parent or alias, and among those that
                   have it as name (NULL if none). "Dog >= 80" is judged on the best Dog
                   label alone, so Dog@60 + Cat@95 never matches it (the index's nested
                   semantics); a label's score is that same best confidence.
    image_names    (image, name): the document's label_names, for /labels with filters.
    text_postings  (word, image): the words of search_text, analyzed like OpenSearch's
                   standard analyzer, for free-text search.

Only live images have label_hits, image_names and text_postings rows; the rows of an image are
a function of its document, so replacing an image deletes them by primary key from its old
document and no table needs an index by image. A write replaces an image's rows inside one
SAVEPOINT, and a batch is one transaction.

A search computes the score of every match from these rows alone (label_hits, text_postings),
once, and reads the images table only for the matches that can reach the page: those at or
above the page's lowest score (the ``bound``), ties included. Where matches are dense,
sort=newest (and relevance when every match scores alike) walks the images newest first
instead; the first page of a match=any search scores only the images that can reach it
(_label_scores). ``total`` counts the matches up to one past the query's total_hits_limit
(query.bounded_total), as the index does with ``track_total_hits``: a count that stops there
instead of reading every match's row.

Free text works as the index's ``match`` queries do: the text is split into words (UAX #29
word boundaries, lowercased), every word must match (``operator: and``), exactly for 100 points
or within ``fuzziness: AUTO`` edits for 50. Fuzzy candidates are found in Python over the
distinct indexed words; everything else, including the scores, is computed in SQL.

Confidences are stored, compared and summed as the index does it: rounded to 32-bit floats,
so that two images tie, or do not, exactly where they do in OpenSearch.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, cast

from chalicelib.documents import supersedes
from chalicelib.search import tiers
from chalicelib.search.query import (
    EXACT_TEXT_SCORE,
    FUZZY_TEXT_SCORE,
    MATCH_ALL,
    SORT_CONFIDENCE,
    SORT_NEWEST,
    SORT_RELEVANCE,
    TIME_FIELDS,
    Filters,
    LabelCount,
    SearchHit,
    SearchPage,
    SearchQuery,
    bounded_total,
    fold,
)
from chalicelib.store.base import (
    FAILED,
    STALE,
    WRITTEN,
    ImageStore,
    ImageWrite,
    QueryRejected,
    StoreUnavailable,
    WriteResult,
    newest_per_image,
)
from chalicelib.timestamps import InvalidTime, from_epoch_millis, to_epoch_millis
from chalicelib.vocabulary import ImageDocument, StoredDocument, StoredPosition
from localdev.embedded.text_analysis import allowed_edits, analyze, within_edits

# Seconds a connection waits for another writer (thread or process) before giving up.
BUSY_TIMEOUT_SECONDS = 10.0
# Page cache per connection: 100k images take ~220 MB on disk, of which a search reads the
# label_hits rows of its terms (~40 bytes each); 64 MB keeps the hot ones in memory.
CACHE_KIB = 64 * 1024

PAGE_BYTES = 16 * 1024

# The schema's version in PRAGMA user_version; a file of another layout is refused, not misread.
LAYOUT = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    image_id TEXT NOT NULL UNIQUE,
    deleted INTEGER NOT NULL,
    bucket TEXT,
    key TEXT,
    indexed_at TEXT,
    event_time TEXT,
    sequencer TEXT,
    top_confidence REAL
);
-- sort=newest without labels or text walks this index instead of sorting every image.
CREATE INDEX IF NOT EXISTS images_by_newest ON images (deleted, substr(indexed_at, 1, 23));
-- Apart from the images table, so that the rows searches read stay small.
CREATE TABLE IF NOT EXISTS documents (
    image INTEGER PRIMARY KEY,
    document BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS terms (
    id INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE,
    images INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS names (
    id INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE,
    images INTEGER NOT NULL DEFAULT 0
);
-- Every word ever indexed, where fuzzy matches are looked for (words of replaced images stay:
-- they match no text_postings row, like terms of deleted documents in a Lucene index).
CREATE TABLE IF NOT EXISTS words (
    id INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS label_hits (
    term INTEGER NOT NULL,
    image INTEGER NOT NULL,
    best REAL NOT NULL,
    best_name REAL,
    PRIMARY KEY (term, image)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS image_names (
    image INTEGER NOT NULL,
    name INTEGER NOT NULL,
    PRIMARY KEY (image, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS text_postings (
    word INTEGER NOT NULL,
    image INTEGER NOT NULL,
    PRIMARY KEY (word, image)
) WITHOUT ROWID;
"""

# What every document repeats (chalicelib.documents.image_document): deflate finds these in
# the preset dictionary instead of spelling them out in each document. Changing it changes
# LAYOUT: documents deflated with one dictionary cannot be inflated with another.
DOCUMENT_DICTIONARY = json.dumps(
    {
        "image_id": "", "bucket": "", "key": "", "s3_uri": "s3://", "version_id": None,
        "event_name": "ObjectCreated:Put", "event_time": "2026-01-01T00:00:00.000000Z",
        "sequencer": "", "deleted": False, "url": "https://s3.us-east-1.amazonaws.com/",
        "size": 0, "etag": "", "indexed_at": "2026-01-01T00:00:00.000000Z",
        "label_model_version": "3.0",
        "labels": [
            {"name": "", "confidence": 0.0, "parents": [], "aliases": [], "categories": [],
             "instances": [{"bounding_box": {"width": 0, "height": 0, "left": 0, "top": 0},
                            "confidence": 0.0}]},
        ],
        "label_names": [], "search_text": [], "image_properties": None,
        "text": [{"text": "", "confidence": 0.0}], "moderation_labels": None, "faces": None,
        "face_count": None,
    },
    separators=(",", ":"),
).encode()  # fmt: skip

# The length of a canonical time (chalicelib.timestamps) up to its milliseconds.
MILLISECOND_TIME_LENGTH = len("2026-11-27T20:36:26.123")

# The sort orders of es_queries.sort, as (column of a search's rows, direction).
TIE_BREAKERS = (("indexed_at", "DESC"), ("image_id", "ASC"))
SORT_COLUMNS = {
    SORT_RELEVANCE: (("score", "DESC"), *TIE_BREAKERS),
    SORT_CONFIDENCE: (("confidence", "DESC"), *TIE_BREAKERS),
    SORT_NEWEST: TIE_BREAKERS,
}


class SqliteStore(ImageStore):
    LAYOUT = LAYOUT
    SCHEMA = SCHEMA
    PAGE_BYTES = PAGE_BYTES

    def __init__(self, path: str | Path):
        self._path = Path(path).absolute()  # fixed now, whatever the working directory later
        # sqlite3 connections must stay in the thread that opened them: one per thread.
        self._local = threading.local()
        self._ready = False
        self._ready_lock = threading.Lock()

    # -- connections and schema ---------------------------------------------------------------

    def ensure_ready(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if not self._ready:
                connection = self._connection()
                # Before anything is written to a new file (an existing one keeps its own):
                # 16 KiB pages make the label_hits tree shallower than 4 KiB ones; at 100k
                # images three labels with match=all took 83-86 ms instead of 92.
                connection.execute(f"PRAGMA page_size = {int(self.PAGE_BYTES)}")
                # WAL lets readers go on while a batch is written; the mode stays with the file.
                connection.execute("PRAGMA journal_mode = WAL")
                _check_layout(connection, self.LAYOUT)
                connection.executescript(self.SCHEMA)
                connection.execute(f"PRAGMA user_version = {int(self.LAYOUT)}")
                self._ready = True

    def close(self) -> None:
        """Close the calling thread's connection (others close when their threads end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            self._local.connection = None
            connection.close()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        return connection

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; this module says BEGIN where it means it.
        connection = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL mode
        connection.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        connection.execute("PRAGMA temp_store = MEMORY")  # a search's scored matches
        connection.create_function("float32", 1, float32, deterministic=True)
        return connection

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for the statements of a read; outages as StoreUnavailable."""
        with _unavailable_as_store_error():
            self.ensure_ready()
            connection = self._connection()
            connection.execute("BEGIN")
            try:
                yield connection
            finally:
                if connection.in_transaction:
                    connection.execute("COMMIT")

    # -- writes -------------------------------------------------------------------------------

    def write(self, writes: Sequence[ImageWrite]) -> list[WriteResult]:
        newest, results = newest_per_image(writes)
        try:
            self.ensure_ready()
            outcome = self._write_batch([writes[index] for index in newest.values()])
        except (sqlite3.Error, OSError) as error:
            # The transaction did not commit: nothing of this batch is known to be stored.
            failure = WriteResult(FAILED, f"sqlite error: {_describe(error)}")
            outcome = dict.fromkeys(newest, failure)
        results.update((index, outcome[image_id]) for image_id, index in newest.items())
        return [results[index] for index in range(len(writes))]

    def _write_batch(self, writes: list[ImageWrite]) -> dict[str, WriteResult]:
        with self._writing() as connection:
            return {write.image_id: self._write_one(connection, write) for write in writes}

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One transaction that holds the write lock from its start; rolled back on an error."""
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def _write_one(self, connection: sqlite3.Connection, write: ImageWrite) -> WriteResult:
        """Apply one write in its own SAVEPOINT: a bad item fails alone, not the batch."""
        connection.execute("SAVEPOINT image_write")
        try:
            result = self._replace_if_newer(connection, write)
        except Exception as error:  # any item-level failure (bad document, constraint) is reported
            connection.execute("ROLLBACK TO image_write")
            result = WriteResult(FAILED, _describe(error))
        connection.execute("RELEASE image_write")
        return result

    def _replace_if_newer(self, connection: sqlite3.Connection, write: ImageWrite) -> WriteResult:
        stored = connection.execute(
            """SELECT i.id, i.sequencer, i.event_time, i.deleted, d.document
            FROM images i LEFT JOIN documents d ON d.image = i.id WHERE i.image_id = ?""",
            (write.image_id,),
        ).fetchone()
        if stored is not None and not supersedes(write.document, dict(stored)):
            return WriteResult(STALE, "a newer or equal state is already stored")
        if stored is not None and not stored["deleted"]:
            self._unindex(connection, stored["id"], self.decode(stored["document"]))
        image = _put_image(connection, stored["id"] if stored else None, write)
        connection.execute(
            "INSERT OR REPLACE INTO documents VALUES (?, ?)", (image, self.encode(write.document))
        )
        if not write.document.get("deleted"):  # a tombstone keeps no rows that searches match
            self._index(connection, image, write.document)
        return WriteResult(WRITTEN)

    @staticmethod
    def encode(document: Mapping[str, Any]) -> bytes:
        """The stored form of a document (compact JSON, deflated)."""
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        deflate = zlib.compressobj(zdict=DOCUMENT_DICTIONARY)
        return deflate.compress(text) + deflate.flush()

    @staticmethod
    def decode(stored: bytes) -> StoredDocument:
        inflate = zlib.decompressobj(zdict=DOCUMENT_DICTIONARY)
        return json.loads(inflate.decompress(stored) + inflate.flush())

    def _index(
        self, connection: sqlite3.Connection, image: int, document: Mapping[str, Any]
    ) -> None:
        """Add the rows that searches match for a live image."""
        for table, rows in _rows(connection, image, document, intern=True):
            connection.executemany(INSERTS[table], rows)
        for table, values in _counted_values(document):
            _count(connection, table, values, +1)

    def _unindex(
        self, connection: sqlite3.Connection, image: int, document: Mapping[str, Any]
    ) -> None:
        """Remove the rows that ``_index`` added for the image's previous, live document."""
        for table, rows in _rows(connection, image, document, intern=False):
            connection.executemany(DELETES[table], [row[:2] for row in rows])
        for table, values in _counted_values(document):
            _count(connection, table, values, -1)

    # -- reads --------------------------------------------------------------------------------

    def stored_positions(self, image_ids: Sequence[str]) -> dict[str, StoredPosition]:
        if not image_ids:
            return {}
        with self._reading() as connection:
            rows = connection.execute(
                "SELECT image_id, sequencer, event_time FROM images WHERE image_id IN "
                f"{_placeholders(image_ids)}",
                list(image_ids),
            ).fetchall()
        return {
            row["image_id"]: {"sequencer": row["sequencer"], "event_time": row["event_time"]}
            for row in rows
        }

    def get(self, image_id: str) -> ImageDocument | None:
        with self._reading() as connection:
            row = connection.execute(
                """SELECT d.document FROM images i JOIN documents d ON d.image = i.id
                WHERE i.image_id = ? AND NOT i.deleted""",
                (image_id,),
            ).fetchone()
        return None if row is None else _live(self.decode(row["document"]))

    def live_documents(self, image_ids: Sequence[str]) -> dict[str, ImageDocument]:
        if not image_ids:
            return {}
        with self._reading() as connection:
            rows = connection.execute(
                "SELECT i.image_id, d.document FROM images i JOIN documents d ON d.image = i.id "
                f"WHERE NOT i.deleted AND i.image_id IN {_placeholders(image_ids)}",
                list(image_ids),
            ).fetchall()
        return {row["image_id"]: _live(self.decode(row["document"])) for row in rows}

    def remove_tombstones(self, written_before: str) -> int:
        with _unavailable_as_store_error():
            self.ensure_ready()
            with self._writing() as connection:
                # Tombstones keep no label, name or word rows (_replace_if_newer).
                connection.execute(
                    """DELETE FROM documents WHERE image IN
                    (SELECT id FROM images WHERE deleted AND indexed_at < ?)""",
                    (written_before,),
                )
                return connection.execute(
                    "DELETE FROM images WHERE deleted AND indexed_at < ?", (written_before,)
                ).rowcount

    def search(self, query: SearchQuery) -> SearchPage:
        columns = SORT_COLUMNS.get(query.sort, SORT_COLUMNS[SORT_RELEVANCE])
        after = _after_cursor(columns, query.after)  # a key that does not fit: refused first
        with self._reading() as connection:
            rows = self._tier_rows(connection, query, columns, after)
            if rows is None:
                first_page = query.sort == SORT_RELEVANCE and query.after is None
                matches = _matches(connection, query.filters, prune=first_page)
                if matches is None:
                    return SearchPage(total=0, hits=[], has_more=False)
                page = _page(matches, columns, after, query.size, query.total_hits_limit)
                rows = connection.execute(*page).fetchall()
        total, exact = bounded_total(rows[0]["total"], query.total_hits_limit)
        rows = [row for row in rows if row["id"] is not None]  # an empty page is one NULL row
        hits = [
            SearchHit(_live(self.decode(row["document"])), _sort_key(row, columns))
            for row in rows[: query.size]
        ]
        return SearchPage(total, hits, has_more=len(rows) > query.size, total_is_exact=exact)

    @staticmethod
    def _tier_rows(
        connection: sqlite3.Connection,
        query: SearchQuery,
        columns: tuple[tuple[str, str], ...],
        after: tuple[str, dict[str, Any]],
    ) -> list[sqlite3.Row] | None:
        """The page's rows from the first tier that holds it (chalicelib.search.tiers); None
        where no tier does. Several labels only: one label's scores are an index range that
        the page reads from its bound already. Without bucket, key or time restrictions: the
        total counts the labels' rows alone (``_every_match``)."""
        if len(query.filters.labels) < 2 or query.filters.restricted:
            return None
        for band in tiers.bands(query):
            matches = _matches(connection, query.filters, tier=band)
            if matches is None:  # a label that no image has: every tier is empty
                return None
            page = _page(matches, columns, after, query.size, query.total_hits_limit)
            rows = connection.execute(*page).fetchall()
            scores = [row["score"] for row in rows if row["id"] is not None]
            if tiers.holds_page(scores, query.size, tiers.bound(len(query.filters.labels), band)):
                return rows
        return None

    def label_counts(self, filters: Filters, prefix: str | None, size: int) -> list[LabelCount]:
        with self._reading() as connection:
            if not filters.narrows:
                # names.images counts the live images of each name as writes go.
                rows = connection.execute(
                    """SELECT value AS name, images AS count FROM names WHERE images > 0
                    ORDER BY images DESC, value ASC"""
                )
            else:
                matches = _matches(connection, filters)
                if matches is None:
                    return []
                rows = connection.execute(
                    f"""{matches.ctes}
                    SELECT n.value AS name, count(*) AS count
                    FROM ({matches.ids}) m JOIN image_names i ON i.image = m.id
                        JOIN names n ON n.id = i.name
                    GROUP BY i.name ORDER BY count DESC, n.value ASC""",
                    matches.params,
                )
            # The prefix rule is Python's (see below); it runs once per name, not per image.
            counts = (
                LabelCount(row["name"], row["count"])
                for row in rows
                if not prefix or _starts_with_ignoring_case(row["name"], prefix)
            )
            return list(islice(counts, size))

    def ping(self) -> bool:
        try:
            self._connection().execute("SELECT 1").fetchone()
        except (sqlite3.Error, OSError):
            return False
        return True


def _check_layout(connection: sqlite3.Connection, layout: int) -> None:
    """A file with tables of another layout is refused: ``make run`` starts from a new file,
    and a file kept from an older version is rebuilt from the bucket (localdev.backfill)."""
    found = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if tables and found != layout:
        raise sqlite3.DatabaseError(
            f"the file has layout {found}, this store reads layout {layout}: delete it to start"
            " afresh"
        )


# -- writing one image ----------------------------------------------------------------------------


def _put_image(connection: sqlite3.Connection, row_id: int | None, write: ImageWrite) -> int:
    """Insert the image's row (``row_id`` None) or replace it in place; returns its row id."""
    document = write.document
    row = connection.execute(
        """INSERT OR REPLACE INTO images (id, image_id, deleted, bucket, key, indexed_at,
            event_time, sequencer, top_confidence)
        VALUES (:id, :image_id, :deleted, :bucket, :key, :indexed_at, :event_time,
            :sequencer, :top_confidence)""",
        {
            "id": row_id,
            "image_id": write.image_id,
            "deleted": bool(document.get("deleted")),
            "bucket": document.get("bucket"),
            "key": document.get("key"),
            "indexed_at": document.get("indexed_at"),
            "event_time": document.get("event_time"),
            "sequencer": document.get("sequencer"),
            "top_confidence": float32(max(_confidences(document), default=None)),
        },
    ).lastrowid
    if row is None:  # never after an INSERT; the type cannot say so
        raise sqlite3.InterfaceError("INSERT OR REPLACE INTO images gave no row id")
    return row


def _live(document: StoredDocument) -> ImageDocument:
    """A document that the query selected as live (``NOT i.deleted``)."""
    return cast(ImageDocument, document)


INSERTS = {
    "label_hits": "INSERT INTO label_hits VALUES (?, ?, ?, ?)",
    "image_names": "INSERT INTO image_names VALUES (?, ?)",
    "text_postings": "INSERT INTO text_postings VALUES (?, ?)",
}
# By primary key: the first two values of the rows that INSERTS wrote.
DELETES = {
    "label_hits": "DELETE FROM label_hits WHERE term = ? AND image = ?",
    "image_names": "DELETE FROM image_names WHERE image = ? AND name = ?",
    "text_postings": "DELETE FROM text_postings WHERE word = ? AND image = ?",
}


def _rows(
    connection: sqlite3.Connection, image: int, document: Mapping[str, Any], *, intern: bool
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """(table, rows) of a live document, with the ids of its terms, names and words (given new
    ids first when ``intern``)."""
    labels = _best_confidences(document.get("labels") or [])
    terms = _ids(connection, "terms", labels, intern)
    yield "label_hits", [(terms[term], image, *best) for term, best in labels.items()]
    names = _label_names(document)
    name_ids = _ids(connection, "names", names, intern)
    yield "image_names", [(image, name_ids[name]) for name in names]
    words = _document_words(document.get("search_text"))
    word_ids = _ids(connection, "words", words, intern)
    yield "text_postings", [(word_ids[word], image) for word in words]


def _counted_values(document: Mapping[str, Any]) -> list[tuple[str, Iterable[str]]]:
    """The values whose ``images`` count a live document adds to."""
    return [
        ("terms", _best_confidences(document.get("labels") or [])),
        ("names", _label_names(document)),
    ]


def _ids(
    connection: sqlite3.Connection, table: str, values: Iterable[str], intern: bool
) -> dict[str, int]:
    values = list(values)
    if not values:
        return {}
    if intern:
        connection.executemany(
            f"INSERT OR IGNORE INTO {table} (value) VALUES (?)", [(value,) for value in values]
        )
    rows = connection.execute(
        f"SELECT value, id FROM {table} WHERE value IN {_placeholders(values)}",
        values,
    )
    return dict(rows.fetchall())


def _count(connection: sqlite3.Connection, table: str, values: Iterable[str], step: int) -> None:
    values = list(values)
    if values:
        connection.execute(
            f"UPDATE {table} SET images = images + ? WHERE value IN {_placeholders(values)}",
            [step, *values],
        )


def _best_confidences(labels: list[dict[str, Any]]) -> dict[str, tuple[float, float | None]]:
    """Folded term -> (the best confidence of a label that has it as name, parent or alias,
    the best of a label that has it as name or None). A label without a confidence matches
    nothing (no minimum admits it), so it adds no term."""
    best: dict[str, tuple[float, float | None]] = {}
    for label in labels:
        confidence = float32(label.get("confidence"))
        if confidence is None:
            continue
        names = [(label.get("name"), True)]
        names += [(name, False) for name in (label.get("parents") or [])]
        names += [(name, False) for name in (label.get("aliases") or [])]
        for name, is_name in names:
            if not name:
                continue
            term = fold(name)
            any_kind, by_name = best.get(term, (confidence, None))
            if is_name:
                by_name = confidence if by_name is None else max(by_name, confidence)
            best[term] = (max(any_kind, confidence), by_name)
    return best


def _label_names(document: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(document.get("label_names") or []))


def _confidences(document: Mapping[str, Any]) -> list[float]:
    labels = document.get("labels") or []
    return [label["confidence"] for label in labels if label.get("confidence") is not None]


def _document_words(search_text: str | list[str] | None) -> set[str]:
    values = [search_text] if isinstance(search_text, str) else search_text or []
    return {word for value in values for word in analyze(value)}


# -- matching: the scored matches that search and label_counts share ------------------------------


@dataclass(frozen=True)
class Matches:
    """What a search matches, as SQL over ``images i`` and, when the filters have labels or
    text, the CTE ``scored (id, raw, label_score, text_score, best)``: the matching live images
    scored from label_hits and text_postings alone, once. ``raw`` is the relevance score before
    its 32-bit rounding (a monotone function of it: it orders alike, ties aside), ``best`` the
    confidence sort value when labels give it."""

    ctes: str  # a WITH clause, or "" when the filters have neither labels nor text
    params: dict[str, Any]
    source: str  # FROM and WHERE: the matches, with images as ``i``
    score: str  # the relevance score, as the index computes it
    confidence: str
    scored: bool  # True when ``scored`` exists: a page then reads images for its bound only
    # True when sort=newest is best served by walking the images index newest first and
    # keeping the matches: when they are dense enough that a page is found early.
    walk_newest: bool = False
    every_match: str | None = None  # selects every match when ``scored`` holds only some

    @property
    def constant_score(self) -> bool:
        """Do all matches score alike (no labels: 0, or 100 for exact words)? Relevance is
        then the order of the tie-breakers."""
        return not self.score.startswith(("s.", "float32("))

    @property
    def ids(self) -> str:
        return "SELECT id FROM scored" if self.scored else f"SELECT i.id {self.source}"

    @property
    def total(self) -> str:
        """Counts the matches up to ``:count_limit``: the count stops there, not at the last."""
        return f"SELECT count(*) FROM ({self.every_match or self.ids} LIMIT :count_limit)"


def _matches(
    connection: sqlite3.Connection, filters: Filters, prune: bool = False, tier: int | None = None
) -> Matches | None:
    """The matches of the filters; None when nothing can match (a word or a label that no
    image has). ``prune``: only the first page by relevance is read (see _label_scores).
    ``tier``: only the images whose every label is at or above it are scored, while the total
    still counts every match (chalicelib.search.tiers)."""
    ctes, sources = [], []
    # The index compares confidences as 32-bit floats, the bound included.
    params: dict[str, Any] = {"min_confidence": float32(filters.min_confidence)}
    # A label requested twice, in any spelling, counts once, as the index's query clauses do.
    labels = list(dict.fromkeys(fold(label) for label in filters.labels))
    restrictions, restriction_params = _restrictions(filters)
    params |= restriction_params
    every_match = estimate = None
    single = False
    score = _score(bool(labels), filters.match, bool(filters.text), "s.label_score", "s.text_score")
    if labels:
        prune = prune and filters.match != MATCH_ALL and not filters.text and not restrictions
        label_scores = _label_scores(connection, labels, filters, params, prune, tier)
        if label_scores is None:
            return None
        estimate = None if filters.text else label_scores.estimate
        ctes.append(label_scores.ctes)
        every_match = label_scores.every_match
        single = label_scores.single and not filters.text and not restrictions
        sources.append("label_scores l")
    if filters.text:
        text_scores = _text_scores(connection, analyze(filters.text), params)
        if text_scores is None:
            return None
        if not labels and text_scores.exact_only_estimate is not None:
            estimate = text_scores.exact_only_estimate
            score = repr(EXACT_TEXT_SCORE)  # every match found every word as it is
        ctes.append(text_scores.ctes)
        sources.append("text_scores t")
    walk_newest = False
    if estimate is not None:
        images = connection.execute("SELECT max(id) FROM images").fetchone()[0] or 0
        walk_newest = estimate * estimate > WALK_DENSITY * images
    # The best label at or above the minimum confidence; 0 when there is none.
    top_confidence = (
        "CASE WHEN i.top_confidence >= :min_confidence THEN i.top_confidence ELSE 0.0 END"
    )
    if not sources:
        where = " AND ".join(["i.deleted = 0", *restrictions])
        return Matches(
            "", params, f"FROM images i WHERE {where}", "0.0", top_confidence, scored=False
        )
    image = sources[0][-1] + ".image"
    source = sources[0] + "".join(
        f" JOIN {other} ON {other[-1]}.image = {image}" for other in sources[1:]
    )
    if restrictions:
        source += f" JOIN images i ON i.id = {image} WHERE " + " AND ".join(restrictions)
    label_score, text_score = (
        ("l.score" if labels else "NULL"),
        ("t.score" if filters.text else "NULL"),
    )
    raw = " + ".join(
        part for part, used in ((label_score, labels), (text_score, filters.text)) if used
    )
    # One label's rows are an index range: reading them again is cheaper than copying them.
    ctes.append(
        f"""scored AS {"NOT " if single else ""}MATERIALIZED (
    SELECT {image} AS id, {raw} AS raw, {label_score} AS label_score, {text_score} AS text_score,
        {"l.best" if labels else "NULL"} AS best
    FROM {source}
)"""
    )
    return Matches(
        "WITH " + ",\n".join(ctes),
        params,
        "FROM scored s JOIN images i ON i.id = s.id",
        score,
        "s.best" if labels else top_confidence,
        scored=True,
        walk_newest=walk_newest,
        every_match=every_match,
    )


def _label_scores(
    connection: sqlite3.Connection,
    labels: list[str],
    filters: Filters,
    params: dict[str, Any],
    prune: bool,
    tier: int | None = None,
) -> LabelScores | None:
    """``label_scores (image, score, best)``: per image, the sum of the requested labels' best
    confidences (at or above the minimum) and the highest of them. match=all joins the labels'
    rows by primary key, the rarest label first; match=any adds up the rows of any label.

    With ``prune`` (the first page by relevance, several labels), only images that can reach
    the page are scored: a floor is taken from the full scores of the rarest label's
    ``size + 1`` most confident images (the page's lowest score is at least that), and an image
    whose every label is below floor / labels cannot add up to it."""
    known = connection.execute(
        f"SELECT value, id, images FROM terms WHERE value IN {_placeholders(labels)}",
        labels,
    ).fetchall()
    if filters.match == MATCH_ALL and len(known) < len(labels):
        return None
    if not known:
        return None
    column = "best" if filters.expand else "best_name"
    known = sorted(known, key=lambda row: row["images"])
    params |= {f"term_{n}": row["id"] for n, row in enumerate(known)}
    every = ", ".join(f":term_{n}" for n in range(len(known)))
    estimate = known[0 if filters.match == MATCH_ALL else -1]["images"]

    def scores(images: str = "", at_least: str = ":min_confidence") -> str:
        """The label scores of the images that ``images`` admits (a condition on ``@image``),
        from their labels at or above ``at_least``: below the tier, every label must be in it."""
        if filters.match != MATCH_ALL and len(known) > 1 and at_least == ":min_confidence":
            return f"""SELECT image, sum({column}) AS score, max({column}) AS best
            FROM label_hits WHERE term IN ({every}) AND {column} >= :min_confidence
                {images.replace("@image", "image", 1)}
            GROUP BY image"""
        hits = [f"h{n}" for n in range(len(known))]
        confidences = [f"{hit}.{column}" for hit in hits]
        conditions = [
            condition
            for n, hit in enumerate(hits)
            for condition in (
                f"{hit}.term = :term_{n}",
                f"{hit}.{column} >= {at_least}",
                *([f"{hit}.image = h0.image"] if n else []),
            )
        ]
        best = f"max({', '.join(confidences)})" if len(hits) > 1 else confidences[0]
        # CROSS JOIN keeps this order: each further label is looked up by (term, image).
        return f"""SELECT h0.image AS image, {" + ".join(confidences)} AS score, {best} AS best
            FROM {" CROSS JOIN ".join(f"label_hits {hit}" for hit in hits)}
            WHERE {" AND ".join(conditions)} {images.replace("@image", "h0.image", 1)}"""

    if tier is not None:
        if len(known) < len(labels):
            return None  # a label that no image has: the tier is empty
        params["tier"] = float32(max(tier, filters.min_confidence))
        every_match = _every_match(known, filters, column, scores())
        return LabelScores(
            f"label_scores AS NOT MATERIALIZED ({scores(at_least=':tier')})", estimate, every_match
        )
    if not prune or len(known) < 2:
        # Never copied: ``scored`` copies the matches, once, where it is read more than once.
        return LabelScores(
            f"label_scores AS NOT MATERIALIZED ({scores()})", estimate, single=len(known) == 1
        )
    floor = f"""(SELECT CASE WHEN score > 0 THEN score - score * {ROUNDING_MARGIN} END
        FROM ({scores("AND @image IN (SELECT image FROM label_sample)")})
        ORDER BY score DESC LIMIT 1 OFFSET :size)"""
    reachable = f"""AND @image IN (SELECT image FROM label_hits WHERE term IN ({every})
        AND {column} >= max(:min_confidence, coalesce({floor} / {len(known)}, -1e308)))"""
    ctes = f"""label_sample (image) AS MATERIALIZED (
    SELECT image FROM label_hits WHERE term = :term_0 AND {column} >= :min_confidence
    ORDER BY {column} DESC LIMIT :size + 1
),
label_scores AS NOT MATERIALIZED ({scores(reachable)})"""
    return LabelScores(ctes, estimate, _every_match(known, filters, column, scores()))


def _every_match(known: list[sqlite3.Row], filters: Filters, column: str, scores: str) -> str:
    """Selects every match once, where label_scores holds only some of them."""
    if filters.match == MATCH_ALL:
        return scores
    # A UNION in image order is a merge of the labels' ranges (each is in image order):
    # 40 ms at 100k images for three popular labels, count(DISTINCT image) took 65.
    arms = " UNION ".join(
        f"SELECT image FROM label_hits WHERE term = :term_{n} AND {column} >= :min_confidence"
        for n in range(len(known))
    )
    return f"{arms} ORDER BY 1"


@dataclass(frozen=True)
class LabelScores:
    ctes: str
    estimate: int  # matches expected: the rarest label's images (all), the most frequent (any)
    # Selects every match (one row each) when label_scores holds only some of them.
    every_match: str | None = None
    single: bool = False  # one label's rows: an index range


@dataclass(frozen=True)
class TextScores:
    ctes: str
    # When no indexed word is a typo of a query word, every match scores 100, and this is the
    # fewest images of a query word (else None).
    exact_only_estimate: int | None


def _text_scores(
    connection: sqlite3.Connection, words: list[str], params: dict[str, Any]
) -> TextScores | None:
    """``text_scores (image, score)``: the images that have, for each query word, a word
    within its allowed edits; 100 when each found itself, else 50 (query_words holds every
    indexed word that answers a query word, flagged when it is the word itself)."""
    query_words = _query_words(connection, words)
    if not words or {word_index for word_index, _, _ in query_words} != set(range(len(words))):
        return None  # a word that no image has: operator "and" matches nothing
    estimate = None
    if all(exact for _, _, exact in query_words):
        estimate = min(
            connection.execute(
                "SELECT count(*) FROM text_postings WHERE word = ?", (word,)
            ).fetchone()[0]
            for _, word, _ in query_words
        )
    params |= {
        "query_words": json.dumps(query_words),
        "word_count": len(words),
        "exact_score": EXACT_TEXT_SCORE,
        "fuzzy_score": FUZZY_TEXT_SCORE,
    }
    return TextScores(
        """query_words (word_index, word, exact) AS (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
    FROM json_each(:query_words)
),
text_hits AS (
    SELECT p.image, q.word_index, max(q.exact) AS exact
    FROM query_words q JOIN text_postings p ON p.word = q.word
    GROUP BY p.image, q.word_index
),
text_scores (image, score) AS (
    SELECT image,
        CASE WHEN sum(exact) = :word_count THEN :exact_score ELSE :fuzzy_score END
    FROM text_hits GROUP BY image
    HAVING count(*) = :word_count
)""",
        estimate,
    )


def _query_words(connection: sqlite3.Connection, words: list[str]) -> list[list[Any]]:
    """[the query word's index, word id, exact] for every indexed word that answers it."""
    vocabulary = _vocabulary(connection, words)
    rows = []
    for word_index, word in enumerate(words):
        edits = allowed_edits(word)
        rows += [
            [word_index, word_id, int(candidate == word)]
            for candidate, word_id in vocabulary.items()
            if candidate == word or within_edits(word, candidate, edits)
        ]
    return rows


def _vocabulary(connection: sqlite3.Connection, words: list[str]) -> dict[str, int]:
    """The distinct indexed words (with their ids) that could answer a query word: the words
    themselves, and those whose length allows a fuzzy match."""
    lengths = [
        (len(word) - edits, len(word) + edits) for word in words if (edits := allowed_edits(word))
    ]
    rows = connection.execute(
        f"SELECT value, id FROM words WHERE value IN {_placeholders(words)}", words
    ).fetchall()
    if lengths:
        rows += connection.execute(
            "SELECT value, id FROM words WHERE length(value) BETWEEN ? AND ?",
            (min(low for low, _ in lengths), max(high for _, high in lengths)),
        ).fetchall()
    return dict(rows)


def _score(
    has_labels: bool, match: str, has_text: bool, label: str = "l.score", text: str = "t.score"
) -> str:
    """The relevance score from label_scores (l) and text_scores (t), added up as Lucene does:
    it sums a boolean query's clause scores and rounds the sum to a 32-bit float. With
    match=all, labels and text are clauses of one query; with match=any, the labels form a
    query of their own, rounded before the text is added. Text scores (50, 100) are exact."""
    if not has_labels:
        return text if has_text else "0.0"
    label_score = label if match == MATCH_ALL else f"float32({label})"
    return f"float32({label_score} + {text})" if has_text else f"float32({label_score})"


# -- one page --------------------------------------------------------------------------------------


# sort=newest walks the images newest first when matches ** 2 > WALK_DENSITY * images: it
# then expects to read images / matches * 21 index entries for a page of 20 (plus one), fewer
# than the matches it would sort otherwise.
WALK_DENSITY = 21

# Relative distance within which a 32-bit rounding (two for match=any with text) can move a
# score: 2 ** -23 per rounding, taken with room to spare.
ROUNDING_MARGIN = 1e-6


def _page(
    matches: Matches,
    columns: tuple[tuple[str, str], ...],
    after: tuple[str, dict[str, Any]],
    size: int,
    total_hits_limit: int,
) -> tuple[str, dict[str, Any]]:
    """The total and one page of the matches in sort order after the cursor, plus one row to
    tell whether another page exists; documents are read for the page's rows only. The total
    counts up to one match past ``total_hits_limit``: enough for query.bounded_total.

    When the first sort column is computed in ``scored``, only the matches that can reach the
    page join the images table: those whose value is at or above the ``bound``, the
    ``size + 1``-th best value among those surely beyond the cursor's value (every match equal
    to the bound is kept, so the tie-breakers decide among them; the margin keeps those that
    the 32-bit rounding of the score could lift to it)."""
    after_condition, after_params = after
    params = matches.params | after_params | {"limit": size + 1, "size": size}
    params["count_limit"] = total_hits_limit + 1
    first = columns[0][0]
    expressions = {
        "score": matches.score,
        "confidence": matches.confidence,
        "indexed_at": f"substr(i.indexed_at, 1, {MILLISECOND_TIME_LENGTH})",
        "image_id": "i.image_id",
    }
    selected = ", ".join(f"{expressions[column]} AS {column}" for column, _ in columns)
    rows = f"SELECT i.id, {selected} {matches.source}"
    newest_first = first == "indexed_at" or (first == "score" and matches.constant_score)
    bounded = {"score": "raw", "confidence": "best"}.get(first)
    if newest_first and matches.walk_newest:
        rows = f"""SELECT i.id, {selected} FROM images i INDEXED BY images_by_newest
            WHERE i.deleted = 0 AND i.id IN (SELECT id FROM scored)"""
    elif matches.scored and bounded and (bounded == "raw" or matches.confidence == "s.best"):
        beyond = (
            f"WHERE {bounded} < :after_0 - abs(:after_0) * {ROUNDING_MARGIN}"
            if after_params
            else ""
        )
        # The bound less the margin, in one scalar subquery (SQLite evaluates it once).
        bound = f"""(SELECT {bounded} - abs({bounded}) * {ROUNDING_MARGIN} FROM scored {beyond}
            ORDER BY {bounded} DESC LIMIT 1 OFFSET :size)"""
        rows += f" WHERE s.{bounded} >= coalesce({bound}, -1e308)"  # no bound: every match
    order = ", ".join(f"{column} {direction}" for column, direction in columns)
    if first == "score" and matches.constant_score:
        order = ", ".join(f"{column} {direction}" for column, direction in columns[1:])
    sql = f"""{matches.ctes}{"," if matches.ctes else "WITH"}
    page AS (SELECT * FROM ({rows}) WHERE {after_condition} ORDER BY {order} LIMIT :limit)
    SELECT ({matches.total}) AS total, page.*,
        (SELECT document FROM documents WHERE image = page.id) AS document
    FROM (SELECT 1) LEFT JOIN page ORDER BY {order}"""
    return sql, params


def _restrictions(filters: Filters) -> tuple[list[str], dict[str, Any]]:
    """Bucket, key prefix and time window, as in es_queries._restrictions."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if filters.bucket:
        conditions.append("i.bucket = :bucket")
        params["bucket"] = filters.bucket
    if filters.prefix:
        # Compared as a substring, never with LIKE or GLOB: '%', '_' and '*' are literal.
        conditions.append("substr(i.key, 1, :prefix_length) = :prefix")
        params |= {"prefix": filters.prefix, "prefix_length": len(filters.prefix)}
    column = "i." + TIME_FIELDS[filters.time_field]  # a column name from a fixed mapping
    if filters.since:
        conditions.append(f"{_to_milliseconds(column)} >= :since")
        params["since"] = filters.since[:MILLISECOND_TIME_LENGTH]
    if filters.until:
        conditions.append(f"{_to_milliseconds(column)} < :until")
        params["until"] = filters.until[:MILLISECOND_TIME_LENGTH]
    return conditions, params


def _to_milliseconds(column: str) -> str:
    """SQL for a canonical time cut to the millisecond ("2026-11-27T20:36:26.123"): the index's
    date fields keep milliseconds, so times within one millisecond tie there, in filters and
    sorts alike."""
    return f"substr({column}, 1, {MILLISECOND_TIME_LENGTH})"


def _sort_key(row: sqlite3.Row, columns: tuple[tuple[str, str], ...]) -> tuple[Any, ...]:
    """A row's sort key as the index gives it: a date column as epoch milliseconds."""
    return tuple(
        to_epoch_millis(row[column]) if column == "indexed_at" else row[column]
        for column, _ in columns
    )


def _after_cursor(
    columns: tuple[tuple[str, str], ...], after: tuple[Any, ...] | None
) -> tuple[str, dict[str, Any]]:
    """Rows that sort strictly after the sort key ``after`` (search_after): greater in the first
    column that differs, where "greater" follows that column's direction. A key that does not
    fit the sort is rejected as the index rejects it (a 400), never an error of this module."""
    if after is None:
        return "1", {}
    if len(after) != len(columns):
        raise QueryRejected(f"search_after has {len(after)} values, the sort has {len(columns)}")
    values = [
        _after_value(column, value) for (column, _), value in zip(columns, after, strict=True)
    ]
    params = {f"after_{index}": value for index, value in enumerate(values)}
    alternatives = []
    for index, (column, direction) in enumerate(columns):
        equal = [f"{previous} = :after_{n}" for n, (previous, _) in enumerate(columns[:index])]
        beyond = f"{column} {'<' if direction == 'DESC' else '>'} :after_{index}"
        alternatives.append("(" + " AND ".join([*equal, beyond]) + ")")
    return "(" + " OR ".join(alternatives) + ")", params


def _after_value(column: str, value: Any) -> Any:
    """One value of a search_after key, refused where the index refuses it: a number for the
    score and confidence, epoch milliseconds for indexed_at (compared as the millisecond text
    the matches CTE cuts it to), text for the image id."""
    if column == "image_id":
        fits = isinstance(value, str)
    elif column == "indexed_at":
        fits = type(value) is int
    else:
        fits = type(value) in (int, float)
    if not fits:
        raise QueryRejected(f"search_after: {value!r} does not fit the column {column}")
    if column != "indexed_at":
        return value
    try:
        return from_epoch_millis(value)
    except InvalidTime as error:
        raise QueryRejected(f"search_after: {error}") from None


def float32(value: float | None) -> float | None:
    """The nearest 32-bit float: the precision of the index's ``float`` fields and of scores."""
    return None if value is None else struct.unpack("f", struct.pack("f", value))[0]


# -- label name prefixes, as es_queries.case_insensitive_prefix matches them ----------------------


def _starts_with_ignoring_case(name: str, prefix: str) -> bool:
    """The rule of the terms aggregation's ``include`` regular expression: each character of the
    prefix matches its lowercase or uppercase form when both are single characters that differ,
    and only itself otherwise (no accent folding)."""
    if len(name) < len(prefix):
        return False
    return all(char in _case_forms(wanted) for char, wanted in zip(name, prefix, strict=False))


def _case_forms(char: str) -> tuple[str, ...]:
    lower, upper = char.lower(), char.upper()
    if lower != upper and len(lower) == len(upper) == 1:
        return lower, upper
    return (char,)


# -- errors ---------------------------------------------------------------------------------------


@contextmanager
def _unavailable_as_store_error() -> Iterator[None]:
    """A database that cannot be opened, read or locked in time means the store is unavailable;
    mistakes in this module's SQL stay programming errors."""
    try:
        yield
    except (sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.IntegrityError):
        raise
    except (sqlite3.DatabaseError, OSError) as error:
        raise StoreUnavailable(_describe(error)) from error


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def _placeholders(values: Sequence[Any]) -> str:
    """``(?, ?, ?)``: one parameter per value, for ``IN``."""
    return f"({', '.join('?' for _ in values)})"
