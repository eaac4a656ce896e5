"""The embedded store's layout 2 (issue 14) against layout 0, which it replaced.

The contract suite holds the store to the definition on a small collection; here the two
layouts answer every query of bench.embedded_search, page after page, on a slice of the
benchmark corpus with replacements and deletes, and must agree exactly. Layout 2's own
mechanics (deflated documents, value counts, the layout check) are pinned at the end.
"""

import sqlite3
from collections import Counter

import pytest

from bench import corpus
from bench.sqlite_v1 import SqliteStoreV1
from chalicelib import documents
from chalicelib.events import REMOVED, ObjectEvent
from chalicelib.search.query import (
    MATCH_ANY,
    SORT_CONFIDENCE,
    SORT_NEWEST,
    Filters,
    SearchQuery,
)
from chalicelib.store.base import FAILED, ImageWrite, StoreUnavailable
from localdev.embedded.sqlite_store import SqliteStore, _matches

IMAGES = 1_500
SPECS = corpus.vocabulary()
POPULAR, SECOND, FIFTH, TENTH = (SPECS[rank].name for rank in (0, 1, 4, 9))


def corpus_writes(first: int, last: int, seed: int = 1) -> list[ImageWrite]:
    found = [corpus.image_document(number, seed) for number in range(first, last)]
    return [ImageWrite(document["image_id"], document) for document in found]


def tombstone(number: int) -> ImageWrite:
    document = corpus.image_document(number)
    event = ObjectEvent(
        action=REMOVED,
        bucket=document["bucket"],
        key=document["key"],
        event_name="ObjectRemoved:Delete",
        event_time=document["event_time"],
        region="us-east-1",
        size=None,
        etag=None,
        version_id=None,
        sequencer=document["sequencer"] + "1",
    )
    written = documents.tombstone(event, corpus.BASE_TIME)
    return ImageWrite(written["image_id"], written)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """Both layouts with the same history: a load, replacements (new labels, same keys, later
    sequencers) and deletes."""
    folder = tmp_path_factory.mktemp("layouts")
    stores = [SqliteStoreV1(folder / "v1.sqlite3"), SqliteStore(folder / "v2.sqlite3")]
    replacements = [
        ImageWrite(
            write.image_id, {**write.document, "sequencer": write.document["sequencer"] + "9"}
        )
        for write in corpus_writes(0, 200, seed=2)
    ]
    for store in stores:
        for start in range(0, IMAGES, 500):
            store.write(corpus_writes(start, start + 500))
        store.write(replacements)
        store.write([tombstone(number) for number in range(150, 300)])
    return stores


QUERIES = [
    Filters(labels=(TENTH,)),
    Filters(labels=(POPULAR, SECOND, FIFTH)),
    Filters(labels=(POPULAR, SECOND, FIFTH), match=MATCH_ANY),
    Filters(labels=(POPULAR,), min_confidence=90),
    Filters(labels=(TENTH,), expand=False),
    Filters(labels=(POPULAR,), expand=False, min_confidence=70),
    Filters(labels=(TENTH, "no such label"), match=MATCH_ANY),
    Filters(text=SPECS[49].name.split()[0].lower()),
    Filters(text="fense"),  # a typo: fuzzy matches score 50
    Filters(text=POPULAR.lower()),  # dense and exact: pages walk the images newest first
    Filters(labels=(POPULAR,), text="dog"),
    Filters(labels=(SECOND, TENTH), match=MATCH_ANY, text="dog"),
    Filters(labels=(TENTH,), prefix="synthetic/0001/"),
    Filters(),
]


def all_pages(store, query):
    pages = []
    while True:
        page = store.search(query)
        pages.append(page)
        if not page.has_more:
            return pages
        query = SearchQuery(query.filters, query.sort, query.size, page.hits[-1].sort_key)


@pytest.mark.parametrize("sort", ["relevance", SORT_CONFIDENCE, SORT_NEWEST])
@pytest.mark.parametrize("filters", QUERIES, ids=repr)
def test_both_layouts_answer_every_page_alike(layouts, filters, sort):
    old, new = layouts
    query = SearchQuery(filters, sort=sort, size=50)
    expected, found = all_pages(old, query), all_pages(new, query)
    assert [page.total for page in found] == [page.total for page in expected]
    assert [[(h.document, h.sort_key) for h in page.hits] for page in found] == [
        [(h.document, h.sort_key) for h in page.hits] for page in expected
    ]
    assert expected[0].total > 0 or not filters.labels or "no such label" in filters.labels


@pytest.mark.parametrize(
    ("filters", "prefix"),
    [(Filters(), None), (Filters(), "fen"), (Filters(), "D"), (Filters(labels=(TENTH,)), None)],
    ids=repr,
)
def test_both_layouts_count_labels_alike(layouts, filters, prefix):
    old, new = layouts
    assert new.label_counts(filters, prefix, 50) == old.label_counts(filters, prefix, 50)


def test_unfiltered_counts_equal_a_count_of_the_live_documents(layouts):
    _, new = layouts
    live = new.live_documents([write.image_id for write in corpus_writes(0, IMAGES)])
    counts = Counter(name for document in live.values() for name in document["label_names"])
    expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:30]
    assert [(c.name, c.count) for c in new.label_counts(Filters(), None, 30)] == expected


def test_documents_are_stored_deflated_and_read_back_as_written(tmp_path):
    store = SqliteStore(tmp_path / "images.sqlite3")
    [write] = corpus_writes(7, 8)
    store.write([write])
    with sqlite3.connect(tmp_path / "images.sqlite3") as connection:
        [(stored,)] = connection.execute("SELECT document FROM documents").fetchall()
    assert isinstance(stored, bytes) and len(stored) < len(str(write.document)) / 3
    assert store.get(write.image_id) == write.document


def test_a_file_of_another_layout_is_refused(tmp_path):
    path = tmp_path / "images.sqlite3"
    SqliteStoreV1(path).write(corpus_writes(0, 1))
    store = SqliteStore(path)
    assert [result.status for result in store.write(corpus_writes(1, 2))] == [FAILED]
    with pytest.raises(StoreUnavailable, match="layout 0"):
        store.search(SearchQuery())


def test_the_parity_queries_take_every_plan_of_layout_2(layouts):
    """The comparisons above reach the walk newest first, the pruned first page of match=any
    and the bound: were a threshold to move, they would no longer test those plans."""
    _, new = layouts
    with new._reading() as connection:
        dense_label = _matches(connection, Filters(labels=(TENTH,)))
        dense_word = _matches(connection, Filters(text=POPULAR.lower()))
        pruned = _matches(connection, QUERIES[2], prune=True)
    assert dense_label.walk_newest and not dense_label.constant_score
    assert dense_word.walk_newest and dense_word.constant_score
    assert pruned.every_match is not None and "label_sample" in pruned.ctes
