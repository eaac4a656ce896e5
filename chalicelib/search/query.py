"""What a search asks for and what it returns, independent of the store that answers it.

The relevance score is defined here, not left to the engine, so that every store ranks alike
and a result set can be paged with a cursor that never repeats or skips an image while new
images are indexed: a document's score depends only on the document and the query, never on
corpus statistics such as BM25's.

* each requested label that an image matches adds the highest confidence (0-100) among the
  image's labels that match it (by name, or by parent or alias when expanding);
* free text (``q``) adds 100 when every word matches a word of the image's label names, aliases
  or detected text exactly, or 50 when it matches only with typos.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from chalicelib.vocabulary import ImageDocument, Match, Sort, TimeField

# The names the API, the stores and their tests import; the values are the enums'.
MATCH_ALL, MATCH_ANY = Match.ALL, Match.ANY
SORT_RELEVANCE, SORT_CONFIDENCE, SORT_NEWEST = Sort.RELEVANCE, Sort.CONFIDENCE, Sort.NEWEST
TIME_INDEXED, TIME_EVENT = TimeField.INDEXED, TimeField.EVENT
TIME_FIELDS = {time_field: time_field.document_field for time_field in TimeField}
# Results per page (and label names per /labels answer) when the caller does not say.
DEFAULT_PAGE_SIZE = 20

EXACT_TEXT_SCORE = 100.0
FUZZY_TEXT_SCORE = 50.0

# At most this many labels per search (the API's limit), each adding at most its best
# confidence.
MAX_LABELS = 10
LABEL_SCORE_MAX = 100.0
MAX_SCORE = MAX_LABELS * LABEL_SCORE_MAX + EXACT_TEXT_SCORE

# Matches counted exactly per search; beyond it ``total`` is this bound, flagged as not exact,
# so that a broad search stops counting instead of visiting every match. 10,000 is
# Elasticsearch's and OpenSearch's own default for ``track_total_hits``.
TOTAL_HITS_LIMIT = 10_000


@dataclass(frozen=True)
class Filters:
    """Restrictions shared by /search and /labels."""

    labels: tuple[str, ...] = ()
    match: Match = MATCH_ALL
    expand: bool = True
    min_confidence: float = 0.0
    text: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    since: str | None = None  # canonical time (chalicelib.timestamps), inclusive
    until: str | None = None  # canonical time, exclusive
    time_field: TimeField = TIME_INDEXED

    @property
    def restricted(self) -> bool:
        """Is the search limited to a bucket, a key prefix or a time window?"""
        return any((self.bucket, self.prefix, self.since, self.until))

    @property
    def narrows(self) -> bool:
        """Do the filters exclude any live image? (The minimum confidence applies to label
        terms only, and the match mode and time field to nothing on their own.)"""
        return bool(self.labels or self.text) or self.restricted


@dataclass(frozen=True)
class SearchQuery:
    filters: Filters = field(default_factory=Filters)
    sort: Sort = SORT_RELEVANCE
    size: int = DEFAULT_PAGE_SIZE
    # The sort key of the last item of the previous page (opaque to callers: see cursor.py),
    # the same in every store: (score or confidence,) epoch milliseconds, image id.
    after: tuple[Any, ...] | None = None
    # Matches are counted up to this many (see bounded_total); small in tests.
    total_hits_limit: int = TOTAL_HITS_LIMIT


@dataclass(frozen=True)
class SearchHit:
    document: ImageDocument
    # The sort key of this hit, as SearchQuery.after holds it; the last one of a page becomes
    # the next page's ``after``.
    sort_key: tuple[Any, ...]


@dataclass(frozen=True)
class SearchPage:
    total: int
    hits: list[SearchHit]
    has_more: bool
    # False when more images match than the query's total_hits_limit: ``total`` is then that
    # limit, a lower bound. A store that counts every match without a limit leaves it True.
    total_is_exact: bool = True


def bounded_total(counted: int, limit: int) -> tuple[int, bool]:
    """``(total, total_is_exact)`` from a count that went on at least one match past ``limit``
    (or to the end): up to ``limit`` matches are exact, more give ``(limit, False)``, as
    Elasticsearch 7+ and OpenSearch answer ``track_total_hits: <limit>``."""
    return (counted, True) if counted <= limit else (limit, False)


@dataclass(frozen=True)
class LabelCount:
    name: str
    count: int


# Letters that Lucene's ASCII folding rewrites but Unicode decomposition leaves alone.
_ASCII_FOLDING = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l",
     "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D", "\u0131": "i"}
)  # fmt: skip


@lru_cache(maxsize=8192)  # label names repeat on every result page
def fold(text: str) -> str:
    """Lowercase and strip accents like the index's normalizer (lowercase + asciifolding), for
    the comparisons made in Python: "Café" -> "cafe", "Straße" -> "strasse"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLDING))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def label_matches(label: Mapping[str, Any], term: str, expand: bool) -> bool:
    """Does one stored label answer a requested label term (already folded)?"""
    names = [label["name"]]
    if expand:
        names += label.get("parents", []) + label.get("aliases", [])
    return any(fold(name) == term for name in names)


def matched_labels(document: Mapping[str, Any], filters: Filters) -> list[str]:
    """Names of the image's labels that answered the query's labels, for the response."""
    terms = [fold(term) for term in filters.labels]
    return [
        label["name"]
        for label in document.get("labels") or []
        if label["confidence"] >= filters.min_confidence
        and any(label_matches(label, term, filters.expand) for term in terms)
    ]
