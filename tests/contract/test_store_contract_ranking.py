"""Contract cases for ties across page boundaries and for counts after replacements.

The embedded store reads only the matches that can reach a page (those at or above the page's
lowest score) and keeps label counts as writes go: these pin that both stores still agree
with the definition where that could go wrong.
"""

from collections import Counter
from dataclasses import replace

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


def paged(store, query, total=None):
    """Every page's keys in order; each page's total is ``total`` (default: the tied dogs)."""
    found = []
    while True:
        page = store.search(query)
        assert page.total == (len(TIED) if total is None else total)
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


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_newest_first_pages_cut_through_days_in_tie_breaker_order(empty_store, size):
    # The days are whole days apart: a day's window (24 h back from an image) includes the day
    # before's images exactly at its boundary.
    store, refresh = empty_store
    store.write([fixtures.create_write(image) for image in TIED])
    refresh()
    expected = expected_order(TIED, lambda image: 0.0)  # newest first, then image id

    assert paged(store, SearchQuery(Filters(labels=("dog",)), sort="newest", size=size)) == (
        expected
    )


# Three exact matches of "kite" and three that match it only with a typo ("kites"), with tied
# days in each group: pages of 1-3 cut through both groups and across their boundary.
KITES = tuple(
    Image(f"kites/{number}.jpg", (Label("Sky", 90.0),), day=day, text=(word,))
    for number, (word, day) in enumerate(
        [("kite", 2), ("kites", 4), ("kite", 4), ("kites", 1), ("kite", 4), ("kites", 4)]
    )
)


@pytest.mark.parametrize("size", [1, 2, 3, 6])
def test_free_text_pages_rank_exact_matches_first_in_tie_breaker_order(empty_store, size):
    store, refresh = empty_store
    store.write([fixtures.create_write(image) for image in KITES])
    refresh()
    expected = expected_order(KITES, lambda image: 100.0 if "kite" in image.text else 50.0)

    assert paged(store, SearchQuery(Filters(text="kite"), size=size), len(KITES)) == expected


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


# Kite + Sky sums around the confidence bands: C2 and C have both labels in the 99 band, D
# has one just below it and outranks them both, and H and I tie at 100. A store that took a
# band's images for the page whenever they outnumber it would put C2 before D.
SUMS = tuple(
    Image(key, tuple(Label(name, confidence) for name, confidence in labels), day=day)
    for key, labels, day in [
        ("sums/a.jpg", (("Kite", 100.0), ("Sky", 100.0)), 1),
        ("sums/b.jpg", (("Kite", 99.6), ("Sky", 99.6)), 2),
        ("sums/c2.jpg", (("Kite", 99.0), ("Sky", 99.1)), 3),
        ("sums/c.jpg", (("Kite", 99.0), ("Sky", 99.0)), 4),
        ("sums/d.jpg", (("Kite", 100.0), ("Sky", 98.9)), 5),
        ("sums/e.jpg", (("Kite", 100.0), ("Sky", 94.0)), 6),
        ("sums/f.jpg", (("Kite", 96.0), ("Sky", 96.0)), 7),
        ("sums/g.jpg", (("Kite", 99.9),), 8),
        ("sums/h.jpg", (("Sky", 100.0),), 9),
        ("sums/i.jpg", (("Kite", 50.0), ("Sky", 50.0)), 9),
    ]
)


def label_sum(image, minimum: float) -> float:
    return sum(label.confidence for label in image.labels if label.confidence >= minimum)


@pytest.mark.parametrize("match", ["all", MATCH_ANY])
@pytest.mark.parametrize("minimum", [0.0, 95.0, 99.0])
@pytest.mark.parametrize("size", [1, 2, 3, 10])
def test_pages_of_several_labels_follow_their_sums_across_the_bands(
    empty_store, match, minimum, size
):
    store, refresh = empty_store
    store.write([fixtures.create_write(image) for image in SUMS])
    refresh()

    def matches(image):
        found = [label for label in image.labels if label.confidence >= minimum]
        return len(found) == 2 if match == "all" else bool(found)

    matching = [image for image in SUMS if matches(image)]
    filters = Filters(labels=("kite", "sky"), match=match, min_confidence=minimum)

    found = paged(store, SearchQuery(filters, size=size), len(matching))

    assert found == expected_order(matching, lambda image: label_sum(image, minimum))


def test_an_image_written_after_a_search_leads_the_next_newest_first_and_text_pages(empty_store):
    # A warm store may keep where its time windows start (the newest image it saw): an image
    # written since is newer than that, and must still come first.
    store, refresh = empty_store
    store.write([fixtures.create_write(image) for image in KITES])
    refresh()
    newest = SearchQuery(Filters(labels=("sky",)), sort="newest", size=2)
    text = SearchQuery(Filters(text="kite"), size=2)
    assert store.search(newest).hits and store.search(text).hits

    later = Image("kites/later.jpg", (Label("Sky", 90.0),), day=40, text=("kite",))
    store.write([fixtures.create_write(later)])
    refresh()

    assert store.search(newest).hits[0].document["key"] == later.key
    assert store.search(text).hits[0].document["key"] == later.key


def test_label_counts_over_every_image_ignore_replaced_versions_and_tie_by_name(empty_store):
    # Five versions of one image move it from Kite to Sky: the replaced versions stay in the
    # index's terms until a merge, so Kite's terms outnumber its images (none are left).
    store, refresh = empty_store
    moving = [
        Image(
            "churn/moving.jpg",
            (Label("Kite" if n < 4 else "Sky", 90.0),),
            day=n,
            sequencer=f"00{n + 10}",
        )
        for n in range(5)
    ]
    for image in moving:
        store.write([fixtures.create_write(image)])
        refresh()
    steady = [
        Image(f"churn/{name}-{n}.jpg", (Label(name, 80.0),), day=9)
        for name, copies in [("Cloud", 2), ("Boat", 2), ("Kitten", 1)]
        for n in range(copies)
    ]
    store.write([fixtures.create_write(image) for image in steady])
    store.write([fixtures.delete_write(steady[-1])])  # the only Kitten
    refresh()

    def counted(prefix, size):
        return [(count.name, count.count) for count in store.label_counts(Filters(), prefix, size)]

    assert counted(None, 10) == [("Boat", 2), ("Cloud", 2), ("Sky", 1)]
    assert counted(None, 1) == [("Boat", 2)]
    assert counted("ki", 10) == []
    assert counted("S", 10) == [("Sky", 1)]


@pytest.mark.parametrize("match", ["all", MATCH_ANY])
def test_several_labels_in_one_bucket_count_that_buckets_matches_only(empty_store, match):
    # The same sums in a second bucket: a tier that held the page must not count them.
    store, refresh = empty_store
    elsewhere = [replace(image, key=f"other/{image.key}", bucket="other") for image in SUMS]
    store.write([fixtures.create_write(image) for image in (*SUMS, *elsewhere)])
    refresh()
    filters = Filters(labels=("kite", "sky"), match=match, bucket="photos")
    matching = [image for image in SUMS if match == MATCH_ANY or len(image.labels) == 2]

    found = paged(store, SearchQuery(filters, size=1), len(matching))

    assert found == expected_order(matching, lambda image: label_sum(image, 0.0))
