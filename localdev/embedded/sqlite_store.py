"""The embedded image store on SQLite, used when no search endpoint is configured (local runs).

It answers exactly like ElasticsearchStore: the shared contract suite runs against both. The
definitions it reproduces live in chalicelib.search.query (scores) and es_queries (matching,
filters, sorts); the write rule is chalicelib.documents.supersedes, called as is.

Schema (one database file, WAL mode, created on first use)::

    images       one row per image id, with an integer ``id`` that the other tables use: the
                 deleted flag (tombstones stay, so a late create cannot resurrect an image)
                 and the fields that filters and sorts read: bucket, key, indexed_at and
                 event_time (canonical strings, which compare correctly as text; searches
                 cut them to the millisecond, as the index does), sequencer, and
                 top_confidence (the highest label confidence, for the confidence sort).
    documents    (image, document): the JSON document as written, kept apart so that
                 scanning images reads small rows only.
    label_terms  (image, position, kind, term, confidence): one row per name, parent and
                 alias of each label, folded (lowercase, no accents) with query.fold. The
                 nested semantics of the index ("Dog >= 80" is judged per label) come from
                 keeping each label's confidence on its own rows.
    label_names  (image, name): the document's label_names in display casing, for counts.
    text_words   (image, word): the words of search_text, analyzed like OpenSearch's
                 standard analyzer, for free-text search.
    vocabulary   (word): every word ever indexed, where fuzzy matches are looked for.

Only live images have label_terms, label_names and text_words rows. A write replaces an
image's rows inside one SAVEPOINT, and a batch is one transaction.

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

from chalicelib.documents import supersedes
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
from localdev.embedded.text_analysis import allowed_edits, analyze, within_edits

# Seconds a connection waits for another writer (thread or process) before giving up.
BUSY_TIMEOUT_SECONDS = 10.0

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
-- Apart from the images table, so that scanning images reads small rows only.
CREATE TABLE IF NOT EXISTS documents (
    image INTEGER PRIMARY KEY,
    document TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS label_terms (
    image INTEGER NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('name', 'parent', 'alias')),
    term TEXT NOT NULL,
    confidence REAL,
    PRIMARY KEY (image, position, kind, term)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS label_terms_by_term ON label_terms (term, kind, confidence);
CREATE TABLE IF NOT EXISTS label_names (
    image INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (image, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS label_names_by_name ON label_names (name);
CREATE TABLE IF NOT EXISTS text_words (
    image INTEGER NOT NULL,
    word TEXT NOT NULL,
    PRIMARY KEY (image, word)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS text_words_by_word ON text_words (word);
-- Every word ever indexed, for finding fuzzy matches (words of replaced images stay: they
-- match no text_words row, like terms of deleted documents in a Lucene index until a merge).
CREATE TABLE IF NOT EXISTS vocabulary (word TEXT PRIMARY KEY) WITHOUT ROWID;
"""

# The length of a canonical time (chalicelib.timestamps) up to its milliseconds.
MILLISECOND_TIME_LENGTH = len("2026-11-27T20:36:26.123")

# The sort orders of es_queries.sort, as (column of ``matches``, direction).
TIE_BREAKERS = (("indexed_at", "DESC"), ("image_id", "ASC"))
SORT_COLUMNS = {
    SORT_RELEVANCE: (("score", "DESC"), *TIE_BREAKERS),
    SORT_CONFIDENCE: (("confidence", "DESC"), *TIE_BREAKERS),
    SORT_NEWEST: TIE_BREAKERS,
}


class SqliteStore(ImageStore):
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
                # WAL lets readers go on while a batch is written; the mode stays with the file.
                connection.execute("PRAGMA journal_mode = WAL")
                connection.executescript(SCHEMA)
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
            outcome = self._write_batch([writes[position] for position in newest.values()])
        except (sqlite3.Error, OSError) as error:
            # The transaction did not commit: nothing of this batch is known to be stored.
            failure = WriteResult(FAILED, f"sqlite error: {_describe(error)}")
            outcome = dict.fromkeys(newest, failure)
        results.update((position, outcome[image_id]) for image_id, position in newest.items())
        return [results[position] for position in range(len(writes))]

    def _write_batch(self, writes: list[ImageWrite]) -> dict[str, WriteResult]:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            outcome = {write.image_id: _write_one(connection, write) for write in writes}
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return outcome

    # -- reads --------------------------------------------------------------------------------

    def stored_positions(self, image_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not image_ids:
            return {}
        with self._reading() as connection:
            rows = connection.execute(
                "SELECT image_id, sequencer, event_time FROM images WHERE image_id IN "
                f"({', '.join('?' for _ in image_ids)})",
                list(image_ids),
            ).fetchall()
        return {
            row["image_id"]: {"sequencer": row["sequencer"], "event_time": row["event_time"]}
            for row in rows
        }

    def get(self, image_id: str) -> dict[str, Any] | None:
        with self._reading() as connection:
            row = connection.execute(
                """SELECT d.document FROM images i JOIN documents d ON d.image = i.id
                WHERE i.image_id = ? AND NOT i.deleted""",
                (image_id,),
            ).fetchone()
        return None if row is None else json.loads(row["document"])

    def search(self, query: SearchQuery) -> SearchPage:
        columns = SORT_COLUMNS.get(query.sort, SORT_COLUMNS[SORT_RELEVANCE])
        with self._reading() as connection:
            matches, params = _matches(connection, query.filters)
            count = connection.execute(f"{matches} SELECT count(*) FROM matches", params)
            total = count.fetchone()[0]
            rows = connection.execute(*_page(matches, params, columns, query)).fetchall()
        hits = [
            SearchHit(json.loads(row["document"]), _sort_key(row, columns))
            for row in rows[: query.size]
        ]
        return SearchPage(total=total, hits=hits, has_more=len(rows) > query.size)

    def label_counts(self, filters: Filters, prefix: str | None, size: int) -> list[LabelCount]:
        with self._reading() as connection:
            if _narrows(filters):
                matches, params = _matches(connection, filters)
                names = "matches JOIN label_names n ON n.image = matches.id"
            else:
                # Every label_names row belongs to a live image: no need to find the matches.
                matches, params, names = "", {}, "label_names n"
            rows = connection.execute(
                f"""{matches}
                SELECT n.name, count(*) AS count FROM {names}
                GROUP BY n.name ORDER BY count DESC, n.name ASC""",
                params,
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


# -- writing one image ----------------------------------------------------------------------------


def _write_one(connection: sqlite3.Connection, write: ImageWrite) -> WriteResult:
    """Apply one write in its own SAVEPOINT: a bad item fails alone, not the batch."""
    connection.execute("SAVEPOINT image_write")
    try:
        result = _replace_if_newer(connection, write)
    except Exception as error:  # any item-level failure (bad document, constraint) is reported
        connection.execute("ROLLBACK TO image_write")
        result = WriteResult(FAILED, _describe(error))
    connection.execute("RELEASE image_write")
    return result


def _replace_if_newer(connection: sqlite3.Connection, write: ImageWrite) -> WriteResult:
    stored = connection.execute(
        "SELECT id, sequencer, event_time FROM images WHERE image_id = ?", (write.image_id,)
    ).fetchone()
    if stored is not None and not supersedes(write.document, dict(stored)):
        return WriteResult(STALE, "a newer or equal state is already stored")
    image = _put_image(connection, stored["id"] if stored else None, write)
    _index_labels_and_words(connection, image, write.document)
    return WriteResult(WRITTEN)


def _put_image(connection: sqlite3.Connection, row_id: int | None, write: ImageWrite) -> int:
    """Insert the image's row (``row_id`` None) or replace it in place; returns its row id."""
    document = write.document
    image = connection.execute(
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
    connection.execute(
        "INSERT OR REPLACE INTO documents VALUES (?, ?)",
        (image, json.dumps(document, ensure_ascii=False)),
    )
    return image


def _index_labels_and_words(
    connection: sqlite3.Connection, image: int, document: dict[str, Any]
) -> None:
    """Replace the rows that searches match; a tombstone keeps none."""
    for table in ("label_terms", "label_names", "text_words"):
        connection.execute(f"DELETE FROM {table} WHERE image = ?", (image,))
    if document.get("deleted"):
        return
    connection.executemany(
        "INSERT OR IGNORE INTO label_terms VALUES (?, ?, ?, ?, ?)",
        [(image, *row) for row in _label_terms(document.get("labels") or [])],
    )
    connection.executemany(
        "INSERT OR IGNORE INTO label_names VALUES (?, ?)",
        [(image, name) for name in document.get("label_names") or []],
    )
    words = _document_words(document.get("search_text"))
    connection.executemany(
        "INSERT OR IGNORE INTO text_words VALUES (?, ?)", [(image, word) for word in words]
    )
    connection.executemany(
        "INSERT OR IGNORE INTO vocabulary VALUES (?)", [(word,) for word in words]
    )


def _confidences(document: dict[str, Any]) -> list[float]:
    labels = document.get("labels") or []
    return [label["confidence"] for label in labels if label.get("confidence") is not None]


def _label_terms(labels: list[dict[str, Any]]) -> Iterator[tuple[int, str, str, float | None]]:
    """(position, kind, folded term, confidence) for each name, parent and alias of each label."""
    for position, label in enumerate(labels):
        names = [("name", label.get("name"))]
        names += [("parent", parent) for parent in label.get("parents") or []]
        names += [("alias", alias) for alias in label.get("aliases") or []]
        for kind, name in names:
            if name:
                yield position, kind, fold(name), float32(label.get("confidence"))


def _document_words(search_text: str | list[str] | None) -> set[str]:
    values = [search_text] if isinstance(search_text, str) else search_text or []
    return {word for value in values for word in analyze(value)}


# -- matching: the ``matches`` CTE that search and label_counts share -----------------------------

# Per requested label, each image's best matching label (name, or parent/alias when expanding)
# at or above the minimum confidence; then per image, how many requested labels it answered,
# the score (sum of the bests) and the best confidence overall.
LABEL_SCORES = """
requested (position, term) AS (SELECT key, value FROM json_each(:labels)),
label_hits AS (
    SELECT t.image, r.position, max(t.confidence) AS confidence
    FROM requested r JOIN label_terms t ON t.term = r.term
    WHERE (t.kind = 'name' OR :expand) AND t.confidence >= :min_confidence
    GROUP BY t.image, r.position
),
label_scores AS (
    SELECT image, count(*) AS answered, sum(confidence) AS score, max(confidence) AS best
    FROM label_hits GROUP BY image
)"""

# query_words holds, for each word of the free text, every indexed word within its allowed
# edits, flagged when it is the word itself. An image matches when each query word found one of
# its words; it scores 100 when each found itself, else 50.
TEXT_SCORES = """
query_words (position, word, exact) AS (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
    FROM json_each(:query_words)
),
text_hits AS (
    SELECT w.image, q.position, max(q.exact) AS exact
    FROM query_words q JOIN text_words w ON w.word = q.word
    GROUP BY w.image, q.position
),
text_scores AS (
    SELECT image,
        CASE WHEN sum(exact) = :word_count THEN :exact_score ELSE :fuzzy_score END AS score
    FROM text_hits GROUP BY image
    HAVING count(*) = :word_count
)"""


def _matches(connection: sqlite3.Connection, filters: Filters) -> tuple[str, dict[str, Any]]:
    """A WITH clause ending in ``matches (id, image_id, indexed_at, score, confidence)``: the
    live images that match the filters, with the relevance score and the confidence sort value.
    """
    ctes, joins, conditions = [], [], ["NOT i.deleted"]
    # The best label at or above the minimum confidence; 0 when there is none.
    confidence = "CASE WHEN i.top_confidence >= :min_confidence THEN i.top_confidence ELSE 0.0 END"
    # The index compares confidences as 32-bit floats, the bound included.
    params: dict[str, Any] = {"min_confidence": float32(filters.min_confidence)}
    # A label requested twice, in any spelling, counts once, as the index's query clauses do.
    labels = list(dict.fromkeys(fold(label) for label in filters.labels))
    if labels:
        ctes.append(LABEL_SCORES)
        joins.append("JOIN label_scores l ON l.image = i.id")
        if filters.match == MATCH_ALL:
            conditions.append("l.answered = :label_count")
        confidence = "l.best"
        params |= {
            "labels": json.dumps(labels),
            "label_count": len(labels),
            "expand": filters.expand,
        }
    if filters.text:
        words = analyze(filters.text)
        ctes.append(TEXT_SCORES)
        joins.append("JOIN text_scores t ON t.image = i.id")
        params |= {
            "query_words": json.dumps(_query_words(connection, words)),
            "word_count": len(words),
            "exact_score": EXACT_TEXT_SCORE,
            "fuzzy_score": FUZZY_TEXT_SCORE,
        }
    restrictions, restriction_params = _restrictions(filters)
    score = _score(bool(labels), filters.match, bool(filters.text))
    ctes.append(
        f"""matches AS (
    SELECT i.id, i.image_id, {_to_milliseconds("i.indexed_at")} AS indexed_at,
        {score} AS score, {confidence} AS confidence
    FROM images i {" ".join(joins)}
    WHERE {" AND ".join(conditions + restrictions)}
)"""
    )
    return "WITH " + ",\n".join(ctes), params | restriction_params


def _score(has_labels: bool, match: str, has_text: bool) -> str:
    """The relevance score from label_scores (l) and text_scores (t), added up as Lucene does:
    it sums a boolean query's clause scores and rounds the sum to a 32-bit float. With
    match=all, labels and text are clauses of one query; with match=any, the labels form a
    query of their own, rounded before the text is added. Text scores (50, 100) are exact."""
    if not has_labels:
        return "t.score" if has_text else "0.0"
    label_score = "l.score" if match == MATCH_ALL else "float32(l.score)"
    return f"float32({label_score} + t.score)" if has_text else f"float32({label_score})"


def _narrows(filters: Filters) -> bool:
    """Do the filters exclude any live image?"""
    return any(
        (filters.labels, filters.text, filters.bucket, filters.prefix, filters.since, filters.until)
    )


def _restrictions(filters: Filters) -> tuple[list[str], dict[str, Any]]:
    """Bucket, key prefix and time window, as in es_queries._restrictions."""
    conditions, params = [], {}
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


def _page(
    matches: str,
    params: dict[str, Any],
    columns: tuple[tuple[str, str], ...],
    query: SearchQuery,
) -> tuple[str, dict[str, Any]]:
    """One page of ``matches`` in sort order after the cursor, plus one row to tell whether
    another page exists; documents are fetched for the page's rows only."""
    order = ", ".join(f"{column} {direction}" for column, direction in columns)
    after, after_params = _after_cursor(columns, query.after)
    sql = f"""{matches},
    page AS (SELECT * FROM matches WHERE {after} ORDER BY {order} LIMIT :limit)
    SELECT page.*, (SELECT document FROM documents WHERE image = page.id) AS document
    FROM page ORDER BY {order}"""
    return sql, params | after_params | {"limit": query.size + 1}


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


def _query_words(connection: sqlite3.Connection, words: list[str]) -> list[list[Any]]:
    """[position, indexed word, exact] for every indexed word that answers a query word."""
    vocabulary = _vocabulary(connection, words)
    rows = []
    for position, word in enumerate(words):
        edits = allowed_edits(word)
        rows.append([position, word, 1])
        rows += [
            [position, candidate, 0]
            for candidate in vocabulary
            if candidate != word and within_edits(word, candidate, edits)
        ]
    return rows


def _vocabulary(connection: sqlite3.Connection, words: list[str]) -> list[str]:
    """The distinct indexed words whose length allows a fuzzy match of some query word."""
    lengths = [
        (len(word) - edits, len(word) + edits) for word in words if (edits := allowed_edits(word))
    ]
    if not lengths:
        return []
    rows = connection.execute(
        "SELECT word FROM vocabulary WHERE length(word) BETWEEN ? AND ?",
        (min(low for low, _ in lengths), max(high for _, high in lengths)),
    )
    return [row[0] for row in rows]


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
