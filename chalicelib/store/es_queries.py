"""Translates a search into Elasticsearch query DSL.

User text only ever reaches ``term``, ``prefix`` and ``match`` queries on named fields (never
``query_string``), so ``*``, ``label:dog OR 1=1`` or JSON in a parameter is matched literally.
Scores follow the definition in chalicelib.search.query, which the embedded store shares.

Two designs are kept, chosen by the mapping version of the index behind the alias
(chalicelib/store/mapping.py): version 1 matches each label with a nested query alone; version 2
also filters on the flat band tokens (``label_bands``/``name_bands``), so that the engine
intersects flat postings first and scores nested labels only for the images that pass, and a
one-label search ranked by confidence can ask the best bands first (``tiers``). Version 1's
queries stay valid on a version 2 index: a store that has not yet seen a migration's alias swap
answers correctly, only slower.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.search import tiers as tiers_of
from chalicelib.search.query import (
    EXACT_TEXT_SCORE,
    FUZZY_TEXT_SCORE,
    MATCH_ALL,
    MATCH_ANY,
    SORT_CONFIDENCE,
    SORT_NEWEST,
    SORT_RELEVANCE,
    TIME_FIELDS,
    Filters,
    SearchQuery,
    fold,
)
from chalicelib.store import mapping
from chalicelib.store.base import QueryRejected

TIE_BREAKERS = [{"indexed_at": {"order": "desc"}}, {"image_id": {"order": "asc"}}]


def label_filter(term: str, filters: Filters) -> dict[str, Any]:
    """Matches one nested label entry: the name (or a parent/alias) and the minimum confidence."""
    fields = ["labels.name"]
    if filters.expand:
        fields += ["labels.parents", "labels.aliases"]
    return {
        "bool": {
            "filter": [
                {"bool": {"should": [{"term": {field: term}} for field in fields]}},
                {"range": {"labels.confidence": {"gte": filters.min_confidence}}},
            ]
        }
    }


def _label_clause(term: str, filters: Filters) -> dict[str, Any]:
    # The image's score for this label is the best matching label's confidence.
    return {
        "nested": {
            "path": "labels",
            "score_mode": "max",
            "query": {
                "function_score": {
                    "query": label_filter(term, filters),
                    "field_value_factor": {"field": "labels.confidence"},
                    "boost_mode": "replace",
                }
            },
        }
    }


def _text_match(text: str, **fuzzy) -> dict[str, Any]:
    return {"match": {"search_text": {"query": text, "operator": "and", **fuzzy}}}


def _text_clause(text: str) -> dict[str, Any]:
    def matching(boost: float, **fuzzy):
        return {"constant_score": {"filter": _text_match(text, **fuzzy), "boost": boost}}

    return {
        "bool": {
            "should": [
                matching(EXACT_TEXT_SCORE - FUZZY_TEXT_SCORE),
                matching(FUZZY_TEXT_SCORE, fuzziness="AUTO"),
            ],
            "minimum_should_match": 1,
        }
    }


def _restrictions(filters: Filters) -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = [{"term": {"deleted": False}}]
    if filters.bucket:
        clauses.append({"term": {"bucket": filters.bucket}})
    if filters.prefix:
        clauses.append({"prefix": {"key": filters.prefix}})
    if filters.since or filters.until:
        bounds = {}
        if filters.since:
            bounds["gte"] = filters.since
        if filters.until:
            bounds["lt"] = filters.until
        clauses.append({"range": {TIME_FIELDS[filters.time_field]: bounds}})
    return clauses


def _band_filter(term: str, filters: Filters, band: int) -> dict[str, Any]:
    field = "label_bands" if filters.expand else "name_bands"
    return {"term": {field: mapping.band_term(fold(term), band)}}


def _band_prefilter(filters: Filters, band: int | None = None) -> list[dict[str, Any]]:
    """Version 2: the flat tokens that every matching image carries (a superset of the matches
    when the minimum confidence falls between two bands; the nested clauses decide exactly).
    A tier (``band``) holds the images with every requested label in it, whatever the match."""
    tier = band is not None
    band = mapping.band_at_most(filters.min_confidence) if band is None else band
    clauses = [_band_filter(term, filters, band) for term in filters.labels]
    if filters.match == MATCH_ANY and len(clauses) > 1 and not tier:
        return [{"bool": {"should": clauses, "minimum_should_match": 1}}]
    return clauses


def query(
    filters: Filters,
    version: int = mapping.MAPPING_VERSION,
    band: int | None = None,
    scored: bool = True,
) -> dict[str, Any]:
    """``band`` (version 2): only images whose every label has at least that confidence, the
    tier that ``tiers`` names. ``scored``: whether the order needs the labels' scores; a count,
    /labels, the time and confidence sorts and one label's tier do not, and on version 2 they
    then match labels by band tokens alone when the minimum confidence is a band's (the
    default 0 is) or in a tier (whose band is above it), where the tokens decide exactly and
    no nested label is visited."""
    restrictions = _restrictions(filters)
    banded = version >= 2 and bool(filters.labels)
    if banded:
        restrictions += _band_prefilter(filters, band)
    # A tier's band is above the minimum confidence, so its tokens decide as exactly.
    exact_by_bands = banded and (
        band is not None or filters.min_confidence in mapping.CONFIDENCE_BANDS
    )
    labels = (
        []
        if exact_by_bands and not scored
        else [_label_clause(term, filters) for term in filters.labels]
    )
    clauses: dict[str, Any] = {"filter": restrictions, "must": []}
    if labels and filters.match == MATCH_ALL:
        clauses["must"].extend(labels)
    elif labels:
        clauses["should"] = labels
        clauses["minimum_should_match"] = 1
    if filters.text:
        clauses["must"].append(_text_clause(filters.text))
    return {"bool": clauses}


def tiers(search: SearchQuery, version: int = mapping.MAPPING_VERSION) -> list[int]:
    """The bands of chalicelib.search.tiers to ask first (version 2: their tokens select a
    tier); empty on a version 1 index."""
    return tiers_of.bands(search) if version >= 2 else []


def tier_bound(filters: Filters, band: int) -> float | None:
    """What every image outside the band's tier scores at most (None for one label)."""
    return tiers_of.bound(len(filters.labels), band)


def _exact_text_applies(search: SearchQuery, version: int) -> bool:
    filters = search.filters
    if version < 2 or filters.labels or not filters.text or search.sort != SORT_RELEVANCE:
        return False
    # After a cursor past the exact matches, none are left to ask.
    return not search.after or float(search.after[0]) == EXACT_TEXT_SCORE


def exact_text_body(
    search: SearchQuery, version: int = mapping.MAPPING_VERSION
) -> dict[str, Any] | None:
    """Version 2, free text alone ranked by relevance: the newest exact matches, by the time
    sort alone; None where that does not apply.

    Every image whose words all match exactly scores EXACT_TEXT_SCORE, above every match with
    typos, and equal scores are ordered by the tie-breakers: so when there are more exact
    matches after the cursor than the page holds, the page is the first of them in tie-breaker
    order, with no fuzzy expansion and no score computed. Their sort keys are the full query's
    with the score put first (``(EXACT_TEXT_SCORE, *hit["sort"])``).
    """
    filters = search.filters
    if filters.text is None or not _exact_text_applies(search, version):
        return None
    body = {
        "query": {"bool": {"filter": [*_restrictions(filters), _text_match(filters.text)]}},
        "sort": TIE_BREAKERS,
        "size": search.size + 1,
        "track_total_hits": True,  # a count of term postings: cheap, and no skipping involved
        "_source": {"excludes": list(mapping.BAND_FIELDS)},
    }
    if search.after:
        body["search_after"] = search_after(search.after[1:])
    return body


@dataclass(frozen=True)
class Shortcut:
    """A narrower search that is the page whenever it holds it: more hits than the page and,
    given ``above`` (a tier of several labels), a first hit past the page that scores above."""

    body: dict[str, Any]
    score: float | None = None  # the score every hit has where its sort values leave it out
    above: float | None = None

    def holds_page(self, hits: list[dict[str, Any]], size: int) -> bool:
        return tiers_of.holds_page([hit["sort"][0] for hit in hits], size, self.above)


def shortcuts(
    search: SearchQuery, version: int = mapping.MAPPING_VERSION, newest_ms: int | None = None
) -> list[Shortcut]:
    """The narrower searches to try first, in order (version 2): a label's best bands, the
    exact matches of a free text in the last hour, day, week and month and then all of them,
    or the last hour, day, week and month of a newest-first search; empty where none applies.
    ``newest_ms``: the newest image's time (``newest_time_body``), where ``wants_newest_time``
    says the windows need it."""
    found = [
        Shortcut(search_body(search, version, band), above=tier_bound(search.filters, band))
        for band in tiers(search, version)
    ]
    exact_text = exact_text_body(search, version)
    if exact_text is not None:
        top = int(search.after[1]) if search.after else newest_ms
        found += [Shortcut(body, EXACT_TEXT_SCORE) for body in time_windows(exact_text, top)]
        found.append(Shortcut(exact_text, EXACT_TEXT_SCORE))
    if version >= 2 and search.sort == SORT_NEWEST:
        top = int(search.after[0]) if search.after else newest_ms
        newest = search_body(search, version, track_total_hits=True)
        found += [Shortcut(body) for body in time_windows(newest, top)]
    return found


# The windows of a search ordered newest first, narrowest first (milliseconds). Every image
# inside a window is newer than every image outside it, so a window that holds a whole page is
# the page: on a stage being written to, usually the last hour or day, whose matches are sorted
# instead of all of them (sorting every match by time and image id cost 100+ ms at 100k, and
# the exact matches of a free text 39 ms at 1M).
NEWEST_WINDOWS_MS = tuple(hours * 3_600_000 for hours in (1, 24, 7 * 24, 30 * 24))


def wants_newest_time(search: SearchQuery, version: int = mapping.MAPPING_VERSION) -> bool:
    """Whether windows start from the newest image, not from a cursor."""
    windowed = search.sort == SORT_NEWEST or _exact_text_applies(search, version)
    return version >= 2 and windowed and not search.after


def newest_time_body() -> dict[str, Any]:
    """The newest live image's ``indexed_at``: one hit sorted by time alone."""
    return {
        "query": {"term": {"deleted": False}},
        "sort": [{"indexed_at": {"order": "desc"}}],
        "size": 1,
        "_source": False,
        "track_total_hits": False,
    }


def time_windows(body: dict[str, Any], top: int | None) -> list[dict[str, Any]]:
    """``body`` (sorted newest first) limited to each window back from ``top``, epoch
    milliseconds: the newest image or the cursor's time. Any ``top`` gives exact pages (a
    window has no upper end), so a stale one only makes the first window hold more or less."""
    if top is None:  # nothing stored
        return []
    windows = []
    for width in NEWEST_WINDOWS_MS:
        window = copy.deepcopy(body)
        since = {"gte": top - width, "format": "epoch_millis"}
        window["query"]["bool"]["filter"].append({"range": {"indexed_at": since}})
        windows.append(window)
    return windows


def sort(search: SearchQuery) -> list[dict[str, Any]]:
    if search.sort == SORT_NEWEST:
        return TIE_BREAKERS
    if search.sort == SORT_CONFIDENCE:
        return [_confidence_sort(search.filters), *TIE_BREAKERS]
    return [{"_score": {"order": "desc"}}, *TIE_BREAKERS]


def _confidence_sort(filters: Filters) -> dict[str, Any]:
    """The best confidence among the labels that match (any label's without label terms)."""
    matching = (
        {"bool": {"should": [label_filter(term, filters) for term in filters.labels]}}
        if filters.labels
        else {"range": {"labels.confidence": {"gte": filters.min_confidence}}}
    )
    return {
        "labels.confidence": {
            "order": "desc",
            "mode": "max",
            "nested": {"path": "labels", "filter": matching},
            "missing": 0,
        }
    }


def search_body(
    search: SearchQuery,
    version: int = mapping.MAPPING_VERSION,
    band: int | None = None,
    track_total_hits: int | bool = True,
) -> dict[str, Any]:
    """The search; with ``band`` (a tier of ``tiers``) one that only looks for a full page in
    that tier and counts nothing (``count_body`` counts the matches). ``track_total_hits``:
    the engine's form of the query's limit (EngineCompat.track_total_hits), True counts all."""
    # One label's score is its best confidence: in a tier, where its band token alone decides
    # the match, sorting by that confidence gives the same order and keys at half the cost of
    # scoring every image of the tier (18 vs 39 ms for 100k images at 1M).
    one_label_tier = band is not None and len(search.filters.labels) == 1
    scored = search.sort == SORT_RELEVANCE and not one_label_tier
    body = {
        "query": query(search.filters, version, band, scored=scored),
        "sort": [_confidence_sort(search.filters), *TIE_BREAKERS]
        if one_label_tier
        else sort(search),
        # One more than asked tells whether another page exists.
        "size": search.size + 1,
        # A tier counts exactly (it scores all of its images anyway): with false, OpenSearch
        # 2.19.6 skipped a tied image after a search_after cursor under the confidence sort
        # (tests/contract/test_store_contract_ranking.py, page size 1). So does the confidence
        # sort (a nested first key) under any bound: Lucene's skipping of non-competitive
        # documents, on once counting may stop, dropped the best image of a 9-image page at
        # track_total_hits 1-4 (tests/contract/test_store_contract_total.py; OpenSearch issues
        # 18903, 21537). Counting every match keeps the skipping off; the total stays bounded.
        "track_total_hits": (
            True if band is not None or search.sort == SORT_CONFIDENCE else track_total_hits
        ),
        # Version 2 keeps them out of _source, but a version 1 index that this code writes to
        # before its migration holds them there (a mapping put cannot change _source).
        "_source": {"excludes": list(mapping.BAND_FIELDS)},
    }
    if search.after:
        body["search_after"] = search_after(search.after)
    return body


def count_body(
    filters: Filters, version: int = mapping.MAPPING_VERSION, track_total_hits: int | bool = True
) -> dict[str, Any]:
    """The number of matches without ranking them (a tiered search's ``total``)."""
    return {
        "query": query(filters, version, scored=False),
        "size": 0,
        "track_total_hits": track_total_hits,
    }


# Sort values are longs or doubles in every engine; Elasticsearch 6.8 answers a larger integer
# with a 500 ("No matching token for number_type [BIG_INTEGER]"), the others with a 400.
LONG_RANGE = range(-(2**63), 2**63)


def search_after(after) -> list:
    """The cursor's sort key as the cluster takes it; one that cannot be a sort value is refused."""
    values = list(after)
    for value in values:
        if type(value) is int and value not in LONG_RANGE:
            raise QueryRejected(f"sort value {value} is outside the 64-bit range")
    return values


def case_insensitive_prefix(prefix: str) -> str:
    """A Lucene regular expression for 'starts with prefix', ignoring case.

    Every character is escaped or put in a character class, so the user's text can never be
    read as regular-expression syntax.
    """
    parts = []
    for char in prefix:
        lower, upper = char.lower(), char.upper()
        if lower != upper and len(lower) == len(upper) == 1:
            parts.append(f"[{lower}{upper}]")
        elif re.match(r"\w", char):
            parts.append(char)
        else:
            parts.append("\\" + char)
    return "".join(parts) + ".*"


def label_counts_body(
    filters: Filters,
    prefix: str | None,
    size: int,
    map_hint: bool = False,
    version: int = mapping.MAPPING_VERSION,
) -> dict[str, Any]:
    """``map_hint``: the engine fails on ``include`` over global ordinals (see store.engine)."""
    terms: dict[str, Any] = {
        "field": "label_names.raw",
        "size": size,
        "order": [{"_count": "desc"}, {"_key": "asc"}],
    }
    if prefix:
        terms["include"] = case_insensitive_prefix(prefix)
        if map_hint:
            terms["execution_hint"] = "map"
    return {
        "query": query(filters, version, scored=False),
        "size": 0,
        "aggs": {"labels": {"terms": terms}},
    }


def label_names_body(prefix: str | None, limit: int, map_hint: bool = False) -> dict[str, Any]:
    """Every label name in the index's terms (with the prefix), from the terms dictionary
    alone: no document matches, and ``min_doc_count: 0`` lists the terms all the same."""
    terms: dict[str, Any] = {"field": "label_names.raw", "size": limit, "min_doc_count": 0}
    if prefix:
        terms["include"] = case_insensitive_prefix(prefix)
        if map_hint:
            terms["execution_hint"] = "map"
    return {"query": {"match_none": {}}, "size": 0, "aggs": {"names": {"terms": terms}}}


def document_frequencies_body(names: list[str]) -> dict[str, Any]:
    """A ``_termvectors`` request for an artificial document holding the names: each folded
    term's document frequency in the index's (one) shard. The folded field, not ``.raw``:
    Elasticsearch 6.8 leaves multi-fields out of an artificial document's vectors, and every
    document holding a name holds its folded term, so that term's frequency bounds it too."""
    return {
        "doc": {"label_names": names},
        "fields": ["label_names"],
        "term_statistics": True,
        "field_statistics": False,
        "positions": False,
        "offsets": False,
    }


def name_count_searches(names: list[str], preference: str) -> list[dict[str, Any]]:
    """An ``_msearch`` body: one exact count of live images per name, each from the copy that
    ``preference`` names."""
    lines: list[dict[str, Any]] = []
    for name in names:
        lines.append({"preference": preference})
        lines.append(
            {"query": {"term": {"label_names.raw": name}}, "size": 0, "track_total_hits": True}
        )
    return lines


def tombstones_before(written_before: str, size: int) -> dict[str, Any]:
    """Tombstones whose ``indexed_at`` (when the delete was applied) is before the time, with
    the versions that a conditional delete names."""
    return {
        "size": size,
        "_source": False,
        "seq_no_primary_term": True,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"deleted": True}},
                    {"range": {"indexed_at": {"lt": written_before}}},
                ]
            }
        },
    }
