import pytest

from chalicelib.search import cursor
from chalicelib.search.query import Filters, SearchQuery


def test_a_token_round_trips_for_the_same_query_only():
    query = SearchQuery(Filters(labels=("dog",)), sort="newest", size=3)
    token = cursor.encode(query, (1795809600000, "ab" * 32))
    assert cursor.decode(SearchQuery(Filters(labels=("dog",)), "newest", 50), token) == (
        1795809600000,
        "ab" * 32,
    )
    with pytest.raises(cursor.InvalidCursor, match="different query"):
        cursor.decode(SearchQuery(Filters(labels=("cat",)), "newest", 3), token)
    with pytest.raises(cursor.InvalidCursor, match="different query"):
        cursor.decode(SearchQuery(Filters(labels=("dog",)), "relevance", 3), token)


@pytest.mark.parametrize("token", ["", "!!!", "e30", "x" * 3000, "eyJxIjoiYSIsImFmdGVyIjpbe31dfQ"])
def test_garbage_is_rejected(token):
    with pytest.raises(cursor.InvalidCursor):
        cursor.decode(SearchQuery(), token)
