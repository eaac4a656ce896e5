"""Mapping version 2's band tokens (chalicelib/store/mapping.py) and the queries that use them
(chalicelib/store/es_queries.py): what each image carries, which tiers a search asks first, and
when the tokens alone decide a label match. The results on the engines are held to the shared
contract suite (tests/contract), on a version 2 index and on a version 1 index alike."""

import pytest

from chalicelib.search.query import (
    MATCH_ALL,
    MATCH_ANY,
    SORT_CONFIDENCE,
    SORT_NEWEST,
    Filters,
    SearchQuery,
)
from chalicelib.store import es_queries, mapping
from tests.contract.fixtures import Label


def label(name, confidence, parents=(), aliases=()):
    return Label(name, confidence, tuple(parents), tuple(aliases)).as_dict()


def test_each_term_carries_every_band_up_to_its_best_confidence():
    document = {
        "labels": [
            label("Dog", 91.2, parents=["Animal"], aliases=["Pup"]),
            label("Animal", 60.0),
            label("Café", 99.0),
        ]
    }
    indexed = mapping.index_document(document)
    assert indexed["labels"] == document["labels"]  # the stored labels are untouched
    assert indexed["name_bands"] == sorted(
        ["dog|0", "dog|50", "dog|80", "dog|90", "animal|0", "animal|50"]
        + [f"cafe|{band}" for band in (0, 50, 80, 90, 95, 99)]
    )
    # Expanded: Animal reaches 91.2 through Dog's parent; the alias counts too.
    assert {"animal|90", "pup|90", "dog|90"} <= set(indexed["label_bands"])
    assert "animal|95" not in indexed["label_bands"]
    assert mapping.index_document(indexed) == indexed  # a migration may apply it again


def test_a_band_boundary_is_decided_as_the_index_stores_the_confidence():
    # The index holds 32-bit floats: 94.99999999 is stored and scored as 95.0.
    indexed = mapping.index_document({"labels": [label("Dog", 94.99999999)]})
    assert "dog|95" in indexed["name_bands"]


def test_a_tombstone_carries_no_tokens():
    assert mapping.index_document({"deleted": True, "labels": None}) == {
        "deleted": True,
        "labels": None,
    }


@pytest.mark.parametrize(
    ("minimum", "band"), [(0, 0), (49.9, 0), (50, 50), (83, 80), (90, 90), (100, 99)]
)
def test_the_prefilter_band_is_the_highest_at_or_below_the_minimum(minimum, band):
    assert mapping.band_at_most(minimum) == band


def one_label(**changes):
    return SearchQuery(
        Filters(labels=("dog",), min_confidence=changes.pop("minimum", 0)), **changes
    )


def test_tiers_go_best_first_above_the_minimum_and_below_a_cursor():
    assert es_queries.tiers(one_label()) == [99, 95, 90, 80, 50]
    assert es_queries.tiers(one_label(sort=SORT_CONFIDENCE, minimum=83)) == [99, 95, 90]
    after = (92.5, 1_767_225_600_000, "id")
    assert es_queries.tiers(one_label(after=after)) == [90, 80, 50]


@pytest.mark.parametrize(
    "search",
    [
        # several labels by confidence: the best of them, which no tier of all of them bounds
        SearchQuery(Filters(labels=("dog", "cat")), sort=SORT_CONFIDENCE),
        SearchQuery(Filters(labels=("dog",), text="bowl")),
        one_label(sort=SORT_NEWEST),
        SearchQuery(Filters(text="bowl")),
    ],
)
def test_no_tiers_where_the_order_is_not_the_labels_confidences(search):
    assert es_queries.tiers(search) == []


def two_labels(**changes):
    filters = Filters(labels=("dog", "cat"), match=changes.pop("match", MATCH_ALL))
    return SearchQuery(filters, **changes)


def test_tiers_of_several_labels_leave_room_below_a_cursor_above_their_bound():
    assert es_queries.tiers(two_labels()) == [99, 95, 90, 80, 50]
    # Outside the 99 tier an image scores at most 100 + 99; below the cursor's 197.5 only
    # tiers whose bound is lower can hold a hit that outranks every image outside them.
    after = (197.5, 1_767_225_600_000, "id")
    assert es_queries.tiers(two_labels(after=after)) == [95, 90, 80, 50]
    assert [es_queries.tier_bound(two_labels().filters, band) for band in (99, 50)] == [
        199.0,
        150.0,
    ]
    assert es_queries.tier_bound(one_label().filters, 99) is None


@pytest.mark.parametrize("match", [MATCH_ALL, MATCH_ANY])
def test_a_tier_of_several_labels_holds_the_images_with_every_label_in_it(match):
    body = es_queries.search_body(two_labels(match=match), band=95)
    filters = body["query"]["bool"]["filter"]
    assert {"term": {"label_bands": "dog|95"}} in filters
    assert {"term": {"label_bands": "cat|95"}} in filters
    assert nested_labels(body)  # the sum is scored


def hits(*first_sort_values):
    return [{"sort": [value, 0, "id"]} for value in first_sort_values]


def test_a_tier_of_several_labels_holds_the_page_only_when_the_next_hit_is_above_its_bound():
    tier = es_queries.Shortcut({}, above=199.0)
    assert tier.holds_page(hits(200.0, 199.5), size=1)
    # 100 + 98.99999 adds up to 199.0 in float32: an image outside may score that too.
    assert not tier.holds_page(hits(200.0, 199.0), size=1)
    assert not tier.holds_page(hits(200.0), size=1)
    one_label_tier = es_queries.Shortcut({})
    assert one_label_tier.holds_page(hits(99.0, 99.0), size=1)


def test_one_labels_tier_sorts_by_its_confidence_without_scoring():
    body = es_queries.search_body(one_label(minimum=92), band=95)
    assert not nested_labels(body)
    assert {"term": {"label_bands": "dog|95"}} in body["query"]["bool"]["filter"]
    assert (
        body["sort"] == es_queries.search_body(one_label(sort=SORT_CONFIDENCE, minimum=92))["sort"]
    )


def test_no_tiers_on_a_version_1_index():
    assert es_queries.tiers(one_label(), version=1) == []


def nested_labels(body) -> bool:
    return "nested" in str(body["query"])


def test_bands_alone_decide_a_match_when_the_minimum_is_a_bands_and_no_score_is_needed():
    newest = one_label(sort=SORT_NEWEST, minimum=90)
    body = es_queries.search_body(newest)
    assert {"term": {"label_bands": "dog|90"}} in body["query"]["bool"]["filter"]
    assert not nested_labels(body)
    assert not nested_labels(es_queries.count_body(newest.filters))
    # Between two bands the nested range decides; relevance needs the nested scores.
    assert nested_labels(es_queries.search_body(one_label(sort=SORT_NEWEST, minimum=93)))
    assert nested_labels(es_queries.search_body(one_label()))
    # Version 1's queries never use the tokens.
    assert "label_bands" not in str(es_queries.search_body(newest, version=1)["query"])


def test_match_any_prefilters_on_any_of_the_labels_tokens():
    search = SearchQuery(Filters(labels=("dog", "cat"), match=MATCH_ANY, expand=False))
    prefilter = es_queries.search_body(search)["query"]["bool"]["filter"][-1]
    assert prefilter == {
        "bool": {
            "should": [{"term": {"name_bands": "dog|0"}}, {"term": {"name_bands": "cat|0"}}],
            "minimum_should_match": 1,
        }
    }


def test_a_tier_is_one_bands_images_and_every_answer_leaves_the_tokens_out():
    body = es_queries.search_body(one_label(), band=95)
    assert {"term": {"label_bands": "dog|95"}} in body["query"]["bool"]["filter"]
    assert body["_source"] == {"excludes": list(mapping.BAND_FIELDS)}


def test_free_text_alone_asks_the_newest_exact_matches_first():
    text = SearchQuery(Filters(text="kite"), size=5)
    body = es_queries.exact_text_body(text)
    assert body["sort"] == es_queries.TIE_BREAKERS
    assert body["size"] == 6
    assert {"match": {"search_text": {"query": "kite", "operator": "and"}}} in (
        body["query"]["bool"]["filter"]
    )
    assert [shortcut.score for shortcut in es_queries.shortcuts(text)] == [100.0]
    after_exact = SearchQuery(text.filters, size=5, after=(100.0, 1_767_225_600_000, "id"))
    assert es_queries.exact_text_body(after_exact)["search_after"] == [1_767_225_600_000, "id"]


@pytest.mark.parametrize(
    "search",
    [
        SearchQuery(Filters(text="kite"), after=(50.0, 1_767_225_600_000, "id")),  # past them
        SearchQuery(Filters(text="kite", labels=("sky",))),  # label scores add up
        SearchQuery(Filters(text="kite"), sort=SORT_NEWEST),
    ],
)
def test_no_exact_text_shortcut_where_exact_matches_do_not_lead(search):
    assert es_queries.exact_text_body(search) is None
    assert es_queries.exact_text_body(SearchQuery(Filters(text="kite")), version=1) is None


def test_newest_first_searches_ask_the_last_hour_day_week_and_month_first():
    newest = SearchQuery(Filters(labels=("dog",)), sort=SORT_NEWEST, size=5)
    assert es_queries.wants_newest_time(newest)
    windows = es_queries.shortcuts(newest, newest_ms=1_767_225_600_000)
    lower = [shortcut.body["query"]["bool"]["filter"][-1] for shortcut in windows]
    assert lower == [
        {"range": {"indexed_at": {"gte": 1_767_225_600_000 - hours * 3_600_000,
                                  "format": "epoch_millis"}}}
        for hours in (1, 24, 168, 720)
    ]  # fmt: skip
    # After a cursor they end at its time (search_after), and no newest time is needed.
    after = SearchQuery(newest.filters, SORT_NEWEST, 5, (1_767_000_000_000, "id"))
    assert not es_queries.wants_newest_time(after)
    cursor_windows = es_queries.shortcuts(after)
    assert cursor_windows[0].body["search_after"] == [1_767_000_000_000, "id"]
    assert (
        cursor_windows[0].body["query"]["bool"]["filter"][-1]["range"]["indexed_at"]["gte"]
        == 1_767_000_000_000 - 3_600_000
    )
    assert es_queries.shortcuts(newest) == []  # nothing stored: no newest time
    assert es_queries.shortcuts(newest, version=1, newest_ms=1) == []
