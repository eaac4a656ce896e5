"""The embedded store as it was before issue 14 (layout 0), kept for bench.embedded_search only.

The benchmark prints this design's figures beside the current store's, measured in the same
run on the same corpus. Writes, reads by id and cursors are the current store's; what differs
is the schema (per-document label strings, indexes by term and by image, the JSON document as
text) and the search SQL, which scores and counts every match in one CTE run twice (count and
page). Only the benchmark and its layout test (tests/unit/test_sqlite_layout.py) import it:
the product never reads a layout 0 file (the store refuses one; localdev.backfill rebuilds it
from the bucket), so it lives with the benchmark.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from itertools import islice
from typing import Any

from chalicelib.search.query import (
    EXACT_TEXT_SCORE,
    FUZZY_TEXT_SCORE,
    MATCH_ALL,
    SORT_RELEVANCE,
    Filters,
    LabelCount,
    SearchHit,
    SearchPage,
    SearchQuery,
    fold,
)
from localdev.embedded.sqlite_store import (
    SORT_COLUMNS,
    SqliteStore,
    _after_cursor,
    _document_words,
    _restrictions,
    _score,
    _sort_key,
    _starts_with_ignoring_case,
    _to_milliseconds,
    float32,
)
from localdev.embedded.text_analysis import allowed_edits, analyze, within_edits

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


class SqliteStoreV1(SqliteStore):
    LAYOUT = 0
    SCHEMA = SCHEMA
    PAGE_BYTES = 4096  # SQLite's default, which layout 0 had

    @staticmethod
    def encode(document: dict[str, Any]) -> bytes | str:
        return json.dumps(document, ensure_ascii=False)

    @staticmethod
    def decode(stored: bytes | str) -> dict[str, Any]:
        return json.loads(stored)

    def _index(self, connection: sqlite3.Connection, image: int, document: dict[str, Any]) -> None:
        _index_labels_and_words(connection, image, document)

    def _unindex(
        self, connection: sqlite3.Connection, image: int, document: dict[str, Any]
    ) -> None:
        for table in ("label_terms", "label_names", "text_words"):
            connection.execute(f"DELETE FROM {table} WHERE image = ?", (image,))

    def search(self, query: SearchQuery) -> SearchPage:
        columns = SORT_COLUMNS.get(query.sort, SORT_COLUMNS[SORT_RELEVANCE])
        with self._reading() as connection:
            matches, params = _matches(connection, query.filters)
            count = connection.execute(f"{matches} SELECT count(*) FROM matches", params)
            total = count.fetchone()[0]
            rows = connection.execute(*_page(matches, params, columns, query)).fetchall()
        hits = [
            SearchHit(self.decode(row["document"]), _sort_key(row, columns))
            for row in rows[: query.size]
        ]
        return SearchPage(total=total, hits=hits, has_more=len(rows) > query.size)

    def label_counts(self, filters: Filters, prefix: str | None, size: int) -> list[LabelCount]:
        with self._reading() as connection:
            if filters.narrows:
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


def _index_labels_and_words(
    connection: sqlite3.Connection, image: int, document: dict[str, Any]
) -> None:
    """Replace the rows that searches match; a tombstone keeps none."""
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


def _label_terms(labels: list[dict[str, Any]]) -> Iterator[tuple[int, str, str, float | None]]:
    """(position, kind, folded term, confidence) for each name, parent and alias of each label."""
    for position, label in enumerate(labels):
        names = [("name", label.get("name"))]
        names += [("parent", parent) for parent in label.get("parents") or []]
        names += [("alias", alias) for alias in label.get("aliases") or []]
        for kind, name in names:
            if name:
                yield position, kind, fold(name), float32(label.get("confidence"))


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
