"""Translates a search into Elasticsearch query DSL.

User text only ever reaches ``term``, ``prefix`` and ``match`` queries on named fields (never
``query_string``), so ``*``, ``label:dog OR 1=1`` or JSON in a parameter is matched literally.
Scores follow the definition in chalicelib.search.query, which the embedded store shares.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.search.query import (
    EXACT_TEXT_SCORE,
    FUZZY_TEXT_SCORE,
    MATCH_ALL,
    SORT_CONFIDENCE,
    SORT_NEWEST,
    TIME_FIELDS,
    Filters,
    SearchQuery,
)
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


def _text_clause(text: str) -> dict[str, Any]:
    def matching(boost: float, **fuzzy):
        match = {"search_text": {"query": text, "operator": "and", **fuzzy}}
        return {"constant_score": {"filter": {"match": match}, "boost": boost}}

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


def query(filters: Filters) -> dict[str, Any]:
    labels = [_label_clause(term, filters) for term in filters.labels]
    scored: dict[str, Any] = {"filter": _restrictions(filters), "must": []}
    if labels and filters.match == MATCH_ALL:
        scored["must"].extend(labels)
    elif labels:
        scored["should"] = labels
        scored["minimum_should_match"] = 1
    if filters.text:
        scored["must"].append(_text_clause(filters.text))
    return {"bool": scored}


def sort(search: SearchQuery) -> list[dict[str, Any]]:
    if search.sort == SORT_NEWEST:
        return TIE_BREAKERS
    if search.sort == SORT_CONFIDENCE:
        filters = search.filters
        matching = (
            {"bool": {"should": [label_filter(term, filters) for term in filters.labels]}}
            if filters.labels
            else {"range": {"labels.confidence": {"gte": filters.min_confidence}}}
        )
        confidence = {
            "labels.confidence": {
                "order": "desc",
                "mode": "max",
                "nested": {"path": "labels", "filter": matching},
                "missing": 0,
            }
        }
        return [confidence, *TIE_BREAKERS]
    return [{"_score": {"order": "desc"}}, *TIE_BREAKERS]


def search_body(search: SearchQuery) -> dict[str, Any]:
    body = {
        "query": query(search.filters),
        "sort": sort(search),
        # One more than asked tells whether another page exists.
        "size": search.size + 1,
        "track_total_hits": True,
    }
    if search.after:
        body["search_after"] = search_after(search.after)
    return body


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
    filters: Filters, prefix: str | None, size: int, map_hint: bool = False
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
    return {"query": query(filters), "size": 0, "aggs": {"labels": {"terms": terms}}}


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
