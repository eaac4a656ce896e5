"""The behaviour every image store must share (Elasticsearch and the embedded store)."""

from collections import Counter
from datetime import timedelta

import pytest

from chalicelib.search import cursor
from chalicelib.search.query import (
    MATCH_ANY,
    SORT_CONFIDENCE,
    SORT_NEWEST,
    TIME_EVENT,
    Filters,
    SearchPage,
    SearchQuery,
)
from chalicelib.store.base import STALE, WRITTEN, QueryRejected
from chalicelib.timestamps import canonical_time, to_epoch_millis
from tests.contract import fixtures
from tests.contract.fixtures import IMAGES, LIVE, Image, Label

pytestmark = pytest.mark.integration


def keys(store, **filters_and_options):
    """Keys of every matching image, in order, following next pages to the end."""
    sort = filters_and_options.pop("sort", "relevance")
    size = filters_and_options.pop("size", 100)
    query = SearchQuery(Filters(**filters_and_options), sort=sort, size=size)
    found = []
    while True:
        page = store.search(query)
        found += [hit.document["key"] for hit in page.hits]
        if not page.has_more:
            return found
        query = SearchQuery(query.filters, query.sort, query.size, page.hits[-1].sort_key)


def by_key(key) -> Image:
    return next(image for image in IMAGES if image.key == key)


# -- label semantics ---------------------------------------------------------------------------


def test_label_search_ranks_by_matched_confidence(loaded_store):
    store, _ = loaded_store
    assert keys(store, labels=("Dog",)) == [
        "parks/dog-park.jpg",  # 95.5
        "parks/puppy.png",  # 88
        "beach/dog.jpg",  # 85
        "home/mixed.jpg",  # 60
    ]  # parks/gone.jpg (Dog 99.9) was deleted and never appears


@pytest.mark.parametrize("spelling", ["dog", "DOG", "dOg"])
def test_labels_are_case_insensitive(loaded_store, spelling):
    store, _ = loaded_store
    assert sorted(keys(store, labels=(spelling,))) == sorted(keys(store, labels=("Dog",)))


def test_labels_are_accent_insensitive(loaded_store):
    store, _ = loaded_store
    assert keys(store, labels=("cafe",)) == ["city/café-sign.jpg"]
    assert keys(store, labels=("CAFÉ",)) == ["city/café-sign.jpg"]
    # Letters that ASCII folding rewrites rather than strips.
    assert keys(store, labels=("strasse",)) == ["misc/Straße.jpg"]
    assert keys(store, labels=("STRASSE",)) == ["misc/Straße.jpg"]


def test_parents_and_aliases_expand_unless_switched_off(loaded_store):
    store, _ = loaded_store
    animals = {
        "parks/dog-park.jpg",
        "home/cat-sofa.jpg",
        "home/mixed.jpg",
        "beach/dog.jpg",
        "parks/puppy.png",
    }
    assert set(keys(store, labels=("animal",))) == animals
    assert keys(store, labels=("canine",)) == ["parks/dog-park.jpg"]
    assert keys(store, labels=("animal",), expand=False) == []
    assert keys(store, labels=("canine",), expand=False) == []
    # Furniture is both a label of its own and the parent of Couch.
    assert keys(store, labels=("furniture",), expand=False) == ["home/cat-sofa.jpg"]


def test_match_all_and_any(loaded_store):
    store, _ = loaded_store
    assert keys(store, labels=("dog", "cat")) == ["home/mixed.jpg"]
    assert keys(store, labels=("dog", "cat"), match=MATCH_ANY) == [
        "home/mixed.jpg",  # 60 + 96
        "parks/dog-park.jpg",  # 95.5
        "home/cat-sofa.jpg",  # 92
        "parks/puppy.png",  # 88
        "beach/dog.jpg",  # 85
    ]


def test_min_confidence_applies_to_the_label_that_matched(loaded_store):
    store, _ = loaded_store
    # mixed.jpg has Dog@60 and Cat@96: it is not "a dog with confidence >= 80".
    assert keys(store, labels=("dog",), min_confidence=80) == [
        "parks/dog-park.jpg",
        "parks/puppy.png",
        "beach/dog.jpg",
    ]
    assert keys(store, labels=("dog", "cat"), min_confidence=80) == []
    assert keys(store, labels=("animal",), min_confidence=93) == [
        "home/mixed.jpg",
        "parks/dog-park.jpg",
    ]


# -- free text -----------------------------------------------------------------------------------


def test_free_text_matches_names_aliases_and_detected_text(loaded_store):
    store, _ = loaded_store
    assert keys(store, text="rocket") == ["space/rocket.png"]
    assert keys(store, text="cup") == ["kitchen/coffee.jpg"]  # an alias
    assert keys(store, text="espresso bar") == ["city/café-sign.jpg"]  # detected text
    assert keys(store, text="open daily") == ["city/café-sign.jpg"]


def test_free_text_tolerates_typos_and_ranks_exact_matches_first(loaded_store):
    store, _ = loaded_store
    assert keys(store, text="rockte") == ["space/rocket.png"]
    assert keys(store, text="cofee") == ["kitchen/coffee.jpg"]
    assert keys(store, text="couch") == ["home/cat-sofa.jpg"]
    page = store.search(SearchQuery(Filters(text="cat"), size=10))
    assert page.hits[0].document["key"] in {"home/cat-sofa.jpg", "home/mixed.jpg"}
    assert "home/mixed.jpg" in [hit.document["key"] for hit in page.hits]


def test_text_and_labels_combine(loaded_store):
    store, _ = loaded_store
    assert keys(store, labels=("dog",), text="beach") == ["beach/dog.jpg"]
    assert keys(store, labels=("dog",), text="rocket") == []


# -- filters -------------------------------------------------------------------------------------


def test_bucket_and_key_prefix_filters(loaded_store):
    store, _ = loaded_store
    assert keys(store, labels=("dog",), bucket="holiday-photos") == ["beach/dog.jpg"]
    assert keys(store, bucket="nobody") == []
    assert sorted(keys(store, prefix="parks/")) == ["parks/dog-park.jpg", "parks/puppy.png"]
    assert keys(store, prefix="PARKS/") == []  # keys are case-sensitive in S3


def test_time_filters_on_indexed_and_event_time(loaded_store):
    store, _ = loaded_store
    since = canonical_time(fixtures.BASE_TIME + timedelta(days=3))
    until = canonical_time(fixtures.BASE_TIME + timedelta(days=6))
    # Indexed on days 3, 4 and 5; uploaded an hour before indexing, so by event time the same
    # window holds the images indexed on days 4, 5 and 6.
    assert sorted(keys(store, since=since, until=until)) == days(3, 4, 5)
    assert sorted(keys(store, since=since, until=until, time_field=TIME_EVENT)) == days(4, 5, 6)


def days(*numbers):
    return sorted(image.key for image in LIVE if image.day in numbers)


# -- sorting and paging -------------------------------------------------------------------------


def test_sort_newest_and_confidence(loaded_store):
    store, _ = loaded_store
    newest = [image.key for image in sorted(LIVE, key=lambda image: -image.day)]
    assert keys(store, sort=SORT_NEWEST) == newest
    # confidence: the best matched label, not the sum (mixed.jpg's Cat@96 wins).
    assert keys(store, labels=("dog", "cat"), match=MATCH_ANY, sort=SORT_CONFIDENCE) == [
        "home/mixed.jpg",
        "parks/dog-park.jpg",
        "home/cat-sofa.jpg",
        "parks/puppy.png",
        "beach/dog.jpg",
    ]


@pytest.mark.parametrize("sort", ["relevance", "confidence", "newest"])
def test_paging_returns_every_image_exactly_once(loaded_store, sort):
    store, _ = loaded_store
    paged = keys(store, sort=sort, size=3)
    assert sorted(paged) == sorted(image.key for image in LIVE)
    assert len(paged) == len(set(paged))
    assert keys(store, sort=sort, size=100) == paged


def test_paging_is_stable_while_new_images_are_indexed(loaded_store):
    store, refresh = loaded_store
    query = SearchQuery(Filters(labels=("animal",)), size=2)
    seen = []
    round_number = 0
    while True:
        page = store.search(query)
        seen += [hit.document["key"] for hit in page.hits]
        # Between pages, new animals arrive, some ranking above and some below the cursor.
        round_number += 1
        newcomer = Image(
            f"new/animal-{round_number}.jpg",
            (Label("Dog", 50.0 + 15 * round_number, fixtures.ANIMAL),),
            day=20 + round_number,
        )
        store.write([fixtures.create_write(newcomer)])
        refresh()
        if not page.has_more:
            break
        query = SearchQuery(query.filters, query.sort, query.size, page.hits[-1].sort_key)
    originals = [key for key in seen if not key.startswith("new/")]
    assert len(seen) == len(set(seen))
    assert sorted(originals) == sorted(keys_with_parent("Animal"))


def keys_with_parent(parent):
    return [
        image.key
        for image in LIVE
        if any(parent in label.parents or label.name == parent for label in image.labels)
    ]


def test_total_counts_every_match_not_just_the_page(loaded_store):
    store, _ = loaded_store
    page = store.search(SearchQuery(Filters(labels=("animal",)), size=2))
    assert page.total == len(keys_with_parent("Animal"))
    assert len(page.hits) == 2 and page.has_more


# -- label counts ---------------------------------------------------------------------------------


def brute_force_counts(images):
    counts = Counter()
    for image in images:
        names = {name for label in image.labels for name in (label.name, *label.parents)}
        counts.update(names)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def as_pairs(counts):
    return [(count.name, count.count) for count in counts]


def test_label_counts_equal_a_brute_force_count(loaded_store):
    store, _ = loaded_store
    assert as_pairs(store.label_counts(Filters(), None, 100)) == brute_force_counts(LIVE)
    assert as_pairs(store.label_counts(Filters(), None, 3)) == brute_force_counts(LIVE)[:3]


def test_label_counts_by_prefix_ignore_case(loaded_store):
    store, _ = loaded_store
    expected = [pair for pair in brute_force_counts(LIVE) if pair[0].lower().startswith("d")]
    assert as_pairs(store.label_counts(Filters(), "D", 100)) == expected
    assert as_pairs(store.label_counts(Filters(), "d", 100)) == expected
    assert as_pairs(store.label_counts(Filters(), "coffee c", 100)) == [("Coffee Cup", 1)]
    assert as_pairs(store.label_counts(Filters(), ".*", 100)) == []


def test_label_counts_narrow_with_the_search_filters(loaded_store):
    store, _ = loaded_store
    home = [image for image in LIVE if image.key.startswith("home/")]
    assert as_pairs(store.label_counts(Filters(prefix="home/"), None, 100)) == brute_force_counts(
        home
    )
    dogs = [image for image in LIVE if any(label.name == "Dog" for label in image.labels)]
    assert as_pairs(store.label_counts(Filters(labels=("dog",)), None, 100)) == (
        brute_force_counts(dogs)
    )


# -- single documents and writes -----------------------------------------------------------------


def test_get_returns_live_images_only(loaded_store):
    store, _ = loaded_store
    live = store.get(fixtures.image_id(by_key("parks/dog-park.jpg")))
    assert live["key"] == "parks/dog-park.jpg" and live["labels"][0]["name"] == "Dog"
    assert store.get(fixtures.image_id(by_key("parks/gone.jpg"))) is None
    assert store.get("0" * 64) is None


def test_writes_follow_the_sequencer_of_each_key(empty_store):
    store, refresh = empty_store
    image = Image("order/x.jpg", (Label("Dog", 90.0),), day=1, sequencer="0020")
    older = Image("order/x.jpg", (Label("Cat", 90.0),), day=1, sequencer="0010")
    assert [r.status for r in store.write([fixtures.create_write(image)])] == [WRITTEN]
    assert [r.status for r in store.write([fixtures.create_write(image)])] == [STALE]
    assert [r.status for r in store.write([fixtures.create_write(older)])] == [STALE]
    delete = fixtures.delete_write(image)  # sequencer 00201
    assert [r.status for r in store.write([delete])] == [WRITTEN]
    assert [r.status for r in store.write([fixtures.create_write(image)])] == [STALE]
    refresh()
    assert store.get(fixtures.image_id(image)) is None
    assert keys(store) == []
    newer = Image("order/x.jpg", (Label("Cow", 90.0),), day=2, sequencer="0030")
    assert [r.status for r in store.write([fixtures.create_write(newer)])] == [WRITTEN]
    refresh()
    assert keys(store, labels=("cow",)) == ["order/x.jpg"]


@pytest.mark.parametrize(
    "hostile",
    ["*", "dog*", "label:dog OR 1=1", '{"query": {"match_all": {}}}', "%", "_", "'", ".*"],
)
def test_hostile_strings_match_literally(loaded_store, hostile):
    store, _ = loaded_store
    assert keys(store, labels=(hostile,)) == []
    assert keys(store, prefix=hostile) == []
    assert as_pairs(store.label_counts(Filters(), hostile, 10)) == []


@pytest.mark.parametrize("hostile", ["*", "label:dog OR 1=1", '{"query": {"match_all": {}}}', "%"])
def test_hostile_free_text_is_words_not_syntax(loaded_store, hostile):
    # Free text is split into words; operators and wildcards are just characters.
    store, _ = loaded_store
    assert keys(store, text=hostile) == []
    assert keys(store, text="dog*") == keys(store, text="dog")


def test_stored_positions_include_tombstones_and_skip_unknown_ids(loaded_store):
    store, _ = loaded_store
    live, deleted = by_key("parks/dog-park.jpg"), by_key("parks/gone.jpg")
    positions = store.stored_positions(
        [fixtures.image_id(live), fixtures.image_id(deleted), "0" * 64]
    )
    assert set(positions) == {fixtures.image_id(live), fixtures.image_id(deleted)}
    assert positions[fixtures.image_id(live)]["sequencer"] == live.sequencer
    assert positions[fixtures.image_id(deleted)]["sequencer"] == deleted.sequencer + "1"
    assert positions[fixtures.image_id(live)]["event_time"] == canonical_time(
        fixtures.event_time(live)
    )


def test_live_documents_leave_out_tombstones_and_unknown_ids(loaded_store):
    store, _ = loaded_store
    live, deleted = by_key("parks/dog-park.jpg"), by_key("parks/gone.jpg")

    found = store.live_documents([fixtures.image_id(live), fixtures.image_id(deleted), "0" * 64])

    assert list(found) == [fixtures.image_id(live)]
    assert found[fixtures.image_id(live)]["key"] == live.key
    assert found[fixtures.image_id(live)]["sequencer"] == live.sequencer
    assert store.live_documents([]) == {}


def test_removing_tombstones_keeps_newer_tombstones_and_every_live_image(empty_store):
    store, refresh = empty_store
    assert store.remove_tombstones(canonical_time(fixtures.BASE_TIME)) == 0  # nothing stored yet
    old, recent = (Image(f"gone/{day}.jpg", (Label("Dog", 90.0),), day=day) for day in (2, 5))
    alive = Image("kept/live.jpg", (Label("Cat", 90.0),), day=1)  # older than both
    writes = [fixtures.create_write(image) for image in (old, recent, alive)]
    writes += [fixtures.delete_write(old), fixtures.delete_write(recent)]
    assert {result.status for result in store.write(writes)} == {WRITTEN, STALE}
    refresh()
    # Tombstones are written at indexed_at (BASE_TIME + day): day 3 is after the old one only.
    cutoff = canonical_time(fixtures.BASE_TIME + timedelta(days=3))

    assert store.remove_tombstones(cutoff) == 1
    refresh()

    positions = store.stored_positions([fixtures.image_id(i) for i in (old, recent, alive)])
    assert set(positions) == {fixtures.image_id(recent), fixtures.image_id(alive)}
    assert keys(store) == ["kept/live.jpg"]
    assert store.remove_tombstones(cutoff) == 0  # idempotent
    # The removed key starts afresh: a later create indexes it again.
    again = Image("gone/2.jpg", (Label("Cow", 90.0),), day=7, sequencer="0030")
    assert [r.status for r in store.write([fixtures.create_write(again)])] == [WRITTEN]


def test_stored_positions_of_an_empty_store(empty_store):
    store, _ = empty_store
    assert store.stored_positions(["a" * 64]) == {}
    assert store.stored_positions([]) == {}


# -- limits and hostile input, honoured alike ------------------------------------------------------


def test_a_store_that_was_never_written_answers_every_read_empty(empty_store):
    """A fresh stage after a plain deploy: OpenSearch has no index yet (it answers 404), the
    embedded store no tables; both are simply empty."""
    store, _ = empty_store
    assert store.search(SearchQuery(Filters(labels=("dog",)), sort=SORT_NEWEST)) == SearchPage(
        total=0, hits=[], has_more=False
    )
    assert store.label_counts(Filters(), "do", 10) == []
    assert store.get("0" * 64) is None
    assert store.stored_positions(["0" * 64]) == {}


@pytest.mark.parametrize("sort", ["relevance", "confidence", "newest"])
def test_sort_keys_have_the_cursors_column_types_in_every_store(loaded_store, sort):
    store, _ = loaded_store
    page = store.search(SearchQuery(Filters(labels=("animal",)), sort=sort, size=100))
    assert page.hits
    for hit in page.hits:
        assert cursor.check_sort_key(sort, hit.sort_key) == hit.sort_key
        assert hit.sort_key[-2] == to_epoch_millis(hit.document["indexed_at"])


@pytest.mark.parametrize(
    "after",
    [(1.0,), (True, 1, "x"), ("x", "y", "z"), (1.0, 2**70, "0" * 64)],
)
def test_a_sort_key_that_does_not_fit_is_rejected_not_an_error(loaded_store, after):
    store, _ = loaded_store
    with pytest.raises(QueryRejected):
        store.search(SearchQuery(Filters(), after=after))
