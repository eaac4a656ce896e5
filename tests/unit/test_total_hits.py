"""The bounded total: one rule (query.bounded_total), the engines' requests and answers for it.

The ``hits.total`` answers below have the shapes the engines gave in this suite's runs:
OpenSearch 2.19.6 answered ``{"value": 1, "relation": "gte"}`` to ``track_total_hits: 1`` over
9 matches; Elasticsearch 6.8 answers a plain number (the FIELD_NOTES, tests/contract on 6.8)
and refuses an integer ``track_total_hits`` (6.8.23: 500, "not of boolean type").
"""

import pytest

from chalicelib.search.query import (
    SORT_CONFIDENCE,
    SORT_NEWEST,
    SORT_RELEVANCE,
    TOTAL_HITS_LIMIT,
    Filters,
    SearchQuery,
    bounded_total,
)
from chalicelib.store import es_queries
from tests.unit.test_engine import OPENSEARCH_TAGLINE, compat

INTEGER_COUNTING = [
    ("7.10.2", None, None),
    ("7.17.9", None, None),
    ("1.3.20", "opensearch", None),
    ("2.19.6", "opensearch", None),
    ("3.8.0", "opensearch", None),
    ("7.10.2", None, OPENSEARCH_TAGLINE),  # OpenSearch with its version hidden
]


def dialect(number, distribution=None, tagline=None):
    return compat(number, distribution, *([tagline] if tagline else []))


def test_the_limit_is_ten_thousand_and_the_default_of_every_query():
    assert TOTAL_HITS_LIMIT == 10_000
    assert SearchQuery().total_hits_limit == TOTAL_HITS_LIMIT


@pytest.mark.parametrize(
    ("counted", "total"),
    [(0, (0, True)), (9_999, (9_999, True)), (10_000, (10_000, True)), (10_001, (10_000, False))],
)
def test_more_matches_than_the_limit_give_the_limit_not_exact(counted, total):
    assert bounded_total(counted, TOTAL_HITS_LIMIT) == total


def test_elasticsearch_6_8_counts_every_match_and_the_store_caps_the_answer():
    six = dialect("6.8.23")
    assert six.track_total_hits(TOTAL_HITS_LIMIT) is True  # 6.8 takes no integer
    assert six.total_hits({"total": 10_000, "hits": []}, TOTAL_HITS_LIMIT) == (10_000, True)
    assert six.total_hits({"total": 250_000, "hits": []}, TOTAL_HITS_LIMIT) == (10_000, False)


@pytest.mark.parametrize(("number", "distribution", "tagline"), INTEGER_COUNTING)
def test_elasticsearch_7_and_opensearch_count_up_to_the_limit(number, distribution, tagline):
    engine = dialect(number, distribution, tagline)
    assert engine.track_total_hits(TOTAL_HITS_LIMIT) == TOTAL_HITS_LIMIT
    answers = {
        # Counting stopped past the limit: a lower bound.
        (10_000, "gte"): (10_000, False),
        # Exactly the limit is exact: Lucene stops only once it has counted one more.
        (10_000, "eq"): (10_000, True),
        (42, "eq"): (42, True),
    }
    for (value, relation), total in answers.items():
        hits = {"total": {"value": value, "relation": relation}, "hits": []}
        assert engine.total_hits(hits, TOTAL_HITS_LIMIT) == total, (value, relation)
    # Lucene counts at least size + 1 exactly: past a smaller limit, the limit.
    small = {"total": {"value": 21, "relation": "eq"}, "hits": []}
    assert engine.total_hits(small, limit=5) == (5, False)
    assert engine.total_hits({"total": {"value": 5, "relation": "gte"}}, limit=5) == (5, False)


@pytest.mark.parametrize("sort", [SORT_RELEVANCE, SORT_NEWEST])
def test_the_search_body_carries_the_engines_count(sort):
    search = SearchQuery(Filters(labels=("dog",)), sort=sort)
    assert es_queries.search_body(search, track_total_hits=10_000)["track_total_hits"] == 10_000
    assert es_queries.search_body(search, track_total_hits=True)["track_total_hits"] is True
    assert es_queries.search_body(search)["size"] == search.size + 1  # has_more, unchanged


def test_the_confidence_sort_counts_every_match_whatever_the_limit():
    """Its first key is nested: bounded counting lets Lucene skip documents by the nested
    values and drop images from the page (see es_queries.search_body)."""
    search = SearchQuery(Filters(labels=("dog",)), sort=SORT_CONFIDENCE)
    assert es_queries.search_body(search, track_total_hits=10_000)["track_total_hits"] is True
