"""Contract cases for ties across page boundaries and for counts after replacements.

The embedded store reads only the matches that can reach a page (those at or above the page's
lowest score) and keeps label counts as writes go: these pin that both stores still agree
with the definition where that could go wrong.
"""

from collections import Counter

import pytest

from chalicelib.search.query import MATCH_ANY, SORT_CONFIDENCE, Filters, SearchQuery
from tests.contract import fixtures
from tests.contract.fixtures import ANIMAL, Image, Label

pytestmark = pytest.mark.integration

# Seven dogs on three score levels, four of them tied at 90 and two of those on the same day:
# pages of 2 cut through every tie; the tie-breakers (newest first, then image id) decide.
TIED = tuple(
    Image(f"ties/{number}.jpg", (Label("Dog", confidence, ANIMAL),), day=day)
    for number, (confidence, day) in enumerate(
        [(90.0, 3), (95.0, 1), (90.0, 3), (90.0, 5), (80.0, 2), (90.0, 1), (95.0, 4)]
    )
)


def expected_order(images, score):
    """Score descending, then indexed_at descending, then image id ascending."""
    return [
        image.key
        for image in sorted(
            images, key=lambda image: (-score(image), -image.day, fixtures.image_id(image))
        )
    ]


def paged(store, query):
    found = []
    while True:
        page = store.search(query)
        assert page.total == len(TIED)
        found += [hit.document["key"] for hit in page.hits]
        if not page.has_more:
            return found
        query = SearchQuery(query.filters, query.sort, query.size, page.hits[-1].sort_key)


@pytest.mark.parametrize("sort", ["relevance", SORT_CONFIDENCE])
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_pages_cut_through_ties_in_tie_breaker_order(empty_store, sort, size):
    store, refresh = empty_store
    store.write([fixtures.create_write(image) for image in TIED])
    refresh()
    expected = expected_order(TIED, lambda image: image.labels[0].confidence)

    assert paged(store, SearchQuery(Filters(labels=("dog",)), sort=sort, size=size)) == expected
    # Two labels that every image answers: the sum ties where the single score ties.
    both = Filters(labels=("dog", "animal"), match=MATCH_ANY)
    assert paged(store, SearchQuery(both, sort=sort, size=size)) == expected


def test_label_counts_follow_replacements_and_deletes(loaded_store):
    store, refresh = loaded_store
    dog_park = next(image for image in fixtures.IMAGES if image.key == "parks/dog-park.jpg")
    puppy = next(image for image in fixtures.IMAGES if image.key == "parks/puppy.png")
    replacement = Image(dog_park.key, (Label("Kite", 70.0, ("Toy",)),), day=12, sequencer="0020")
    store.write([fixtures.create_write(replacement), fixtures.delete_write(puppy)])
    refresh()
    live = [image for image in fixtures.LIVE if image.key not in {dog_park.key, puppy.key}]
    live.append(replacement)
    counts = Counter(
        name
        for image in live
        for name in {name for label in image.labels for name in (label.name, *label.parents)}
    )
    expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    found = store.label_counts(Filters(), None, 100)

    assert [(count.name, count.count) for count in found] == expected
    assert [c.name for c in store.label_counts(Filters(), "ki", 10)] == ["Kite"]
    assert store.search(SearchQuery(Filters(labels=("canine",)))).total == 0
    assert store.search(SearchQuery(Filters(text="kite"))).total == 1
