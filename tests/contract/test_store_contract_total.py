"""The bounded total, alike in every store: exact up to the query's total_hits_limit, the limit
(flagged not exact) past it, and the same pages and cursors whatever the limit."""

from dataclasses import replace

import pytest

from chalicelib.search.query import (
    MATCH_ANY,
    SORT_CONFIDENCE,
    SORT_NEWEST,
    Filters,
    SearchPage,
    SearchQuery,
)
from tests.contract.fixtures import LIVE

pytestmark = pytest.mark.integration

# Each takes another way to the matches in the embedded store (every live image, one label's
# index range, the pruned first page of match=any, a join of labels, free text, a restriction);
# each matches at least two live images, so that a limit below the count exists.
FILTERS = {
    "everything": Filters(),
    "one label": Filters(labels=("animal",)),
    "match=any": Filters(labels=("dog", "cat"), match=MATCH_ANY),
    "match=all": Filters(labels=("animal", "plant")),
    "free text": Filters(text="dog"),
    "label and bucket": Filters(labels=("animal",), bucket="photos"),
    "bucket only": Filters(bucket="photos"),
}
SORTS = ["relevance", SORT_CONFIDENCE, SORT_NEWEST]


def unbounded_page(store, query: SearchQuery) -> SearchPage:
    """The page under the default limit (10,000), far above the fixtures' images: exact."""
    page = store.search(query)
    assert page.total_is_exact
    assert page.total >= 2, "the filters must match two images for a limit below the count"
    return page


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("name", sorted(FILTERS))
def test_total_is_exact_up_to_the_limit_and_the_limit_past_it(loaded_store, name, sort):
    store, _ = loaded_store
    query = SearchQuery(FILTERS[name], sort=sort, size=3)
    unbounded = unbounded_page(store, query)
    matches = unbounded.total
    for limit in (1, matches - 1, matches, matches + 1):
        page = store.search(replace(query, total_hits_limit=limit))
        if matches <= limit:
            assert (page.total, page.total_is_exact) == (matches, True), limit
        else:
            assert (page.total, page.total_is_exact) == (limit, False), limit
        assert (page.hits, page.has_more) == (unbounded.hits, unbounded.has_more), limit


def test_everything_counts_every_live_image_up_to_the_limit(loaded_store):
    store, _ = loaded_store
    page = store.search(SearchQuery(total_hits_limit=len(LIVE)))
    assert (page.total, page.total_is_exact) == (len(LIVE), True)
    page = store.search(SearchQuery(total_hits_limit=len(LIVE) - 1))
    assert (page.total, page.total_is_exact) == (len(LIVE) - 1, False)


def pages(store, query: SearchQuery) -> list[SearchPage]:
    """Every page of the query, following the cursor to the end."""
    found = [store.search(query)]
    while found[-1].has_more:
        found.append(store.search(replace(query, after=found[-1].hits[-1].sort_key)))
    return found


@pytest.mark.parametrize("sort", SORTS)
def test_paging_past_the_limit_finds_every_match_once_with_the_same_total(loaded_store, sort):
    """The total counts the query's matches, not those after the cursor: every page says
    "at least 2", and the pages are those of the unbounded query."""
    store, _ = loaded_store
    query = SearchQuery(Filters(labels=("animal",)), sort=sort, size=2)
    matches = unbounded_page(store, query).total
    assert matches > 2
    unbounded = pages(store, query)
    bounded = pages(store, replace(query, total_hits_limit=2))
    assert [(page.total, page.total_is_exact) for page in bounded] == [(2, False)] * len(bounded)
    assert [(page.hits, page.has_more) for page in bounded] == [
        (page.hits, page.has_more) for page in unbounded
    ]
    assert sum(len(page.hits) for page in bounded) == matches


def test_a_search_that_matches_nothing_is_exactly_zero(loaded_store):
    store, _ = loaded_store
    for filters in (Filters(labels=("unicorn",)), Filters(text="zzzz"), Filters(bucket="none")):
        page = store.search(SearchQuery(filters, total_hits_limit=1))
        assert (page.total, page.total_is_exact, page.hits) == (0, True, []), filters
