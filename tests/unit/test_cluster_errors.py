"""How the Elasticsearch store reports what a cluster answered to a read: an outage is
StoreUnavailable (503), a refused request QueryRejected (400), a missing index an empty answer.
The real node's refusal of a too-long prefix is pinned in tests/integration/test_cluster_errors.py.
"""

import pytest
from elasticsearch.exceptions import (
    AuthorizationException,
    ConnectionTimeout,
    NotFoundError,
    RequestError,
    TransportError,
)

from chalicelib.search.query import Filters, SearchPage, SearchQuery
from chalicelib.store.base import QueryRejected, StoreUnavailable
from chalicelib.store.elasticsearch_store import ElasticsearchStore


class AnsweringClient:
    """Answers GET / as OpenSearch does and every search, and GET _alias, with one prepared
    error."""

    def __init__(self, error):
        self.error = error
        self.indices = self

    def get_alias(self, **request):
        raise self.error

    def info(self):
        return {"version": {"number": "2.19.6", "distribution": "opensearch"}}

    def search(self, **request):
        raise self.error


def store_answering(error):
    return ElasticsearchStore(AnsweringClient(error), "images")


MISSING_INDEX = NotFoundError(404, "index_not_found_exception", {"error": "no such index"})


def test_a_missing_index_is_an_empty_answer_on_every_read():
    store = store_answering(MISSING_INDEX)
    assert store.search(SearchQuery()) == SearchPage(total=0, hits=[], has_more=False)
    assert store.label_counts(Filters(), "do", 5) == []


@pytest.mark.parametrize(
    "error",
    [
        RequestError(400, "search_phase_execution_exception", "input automaton is too large"),
        TransportError(413, "content_too_long_exception", "request too large"),
    ],
)
def test_a_refused_request_is_a_rejected_query(error):
    with pytest.raises(QueryRejected, match=error.error):
        store_answering(error).search(SearchQuery())
    with pytest.raises(QueryRejected):
        store_answering(error).label_counts(Filters(), None, 5)


@pytest.mark.parametrize(
    "error",
    [
        TransportError(429, "es_rejected_execution_exception", "queue full"),
        TransportError(408, "timeout", "request timeout"),
        AuthorizationException(403, "security_exception", "no permissions"),
        TransportError(503, "unavailable_shards_exception", "primary shard is not active"),
        ConnectionTimeout("TIMEOUT", "read timed out", None),
    ],
)
def test_throttling_refused_credentials_and_5xx_are_an_unavailable_store(error):
    with pytest.raises(StoreUnavailable):
        store_answering(error).search(SearchQuery())
