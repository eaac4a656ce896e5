"""What only the embedded store has to prove; the shared behaviour is in tests/contract.

Threads and files (persistence, WAL, failures) need no search node. The parity tests at the
end compare the store's own text analysis, fuzzy matching and score arithmetic with the real
OpenSearch node of the test session, the definition they reproduce.
"""

import json
import random
import sqlite3
import string
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from chalicelib.search import cursor
from chalicelib.search.query import MATCH_ANY, Filters, SearchQuery
from chalicelib.store.base import FAILED, STALE, WRITTEN, StoreUnavailable
from chalicelib.store.elasticsearch_store import ElasticsearchStore
from chalicelib.timestamps import canonical_time
from localdev.embedded.sqlite_store import SqliteStore
from localdev.embedded.text_analysis import allowed_edits, analyze, within_edits
from tests.contract import fixtures
from tests.contract.fixtures import Image, Label


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "images.sqlite3")


def dog(number: int, confidence: float = 90.0, **options) -> Image:
    return Image(f"dogs/{number}.jpg", (Label("Dog", confidence, fixtures.ANIMAL),), **options)


def search_keys(store, **filters):
    page = store.search(SearchQuery(Filters(**filters), size=100))
    return [hit.document["key"] for hit in page.hits]


# -- files and connections ------------------------------------------------------------------------


def test_creates_the_parent_directory_and_uses_wal(tmp_path):
    path = tmp_path / "not" / "yet" / "there.sqlite3"
    store = SqliteStore(path)
    assert store.write([fixtures.create_write(dog(1, day=1))])[0].status == WRITTEN
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_documents_survive_reopening_the_file(tmp_path):
    path = tmp_path / "images.sqlite3"
    first = SqliteStore(path)
    write = fixtures.create_write(dog(1, day=1))
    first.write([write])
    first.close()

    second = SqliteStore(path)
    second.ensure_ready()  # idempotent on an existing database
    assert second.get(write.image_id) == write.document
    assert search_keys(second, labels=("dog",)) == ["dogs/1.jpg"]
    assert second.write([write])[0].status == STALE  # the stored order survives too


def test_ping(store, tmp_path):
    assert store.ping()
    (tmp_path / "a-file").write_text("")
    assert not SqliteStore(tmp_path / "a-file" / "images.sqlite3").ping()


def test_an_unusable_database_fails_writes_and_is_unavailable_to_reads(tmp_path):
    (tmp_path / "a-file").write_text("")
    store = SqliteStore(tmp_path / "a-file" / "images.sqlite3")
    results = store.write(
        [fixtures.create_write(dog(1, day=1)), fixtures.create_write(dog(2, day=1))]
    )
    assert [result.status for result in results] == [FAILED, FAILED]
    assert all(result.reason for result in results)
    with pytest.raises(StoreUnavailable):
        store.search(SearchQuery())
    with pytest.raises(StoreUnavailable):
        store.get("0" * 64)


# -- writes ---------------------------------------------------------------------------------------


def test_a_bad_item_fails_alone_and_leaves_nothing_behind(store):
    first = fixtures.create_write(dog(1, confidence=90.0, day=1, sequencer="0010"))
    store.write([first])
    newer = fixtures.create_write(dog(1, confidence=99.0, day=2, sequencer="0020"))
    # Not JSON: the row of the image is written before the document fails to serialise.
    broken = type(newer)(newer.image_id, {**newer.document, "extra": object()})
    other = fixtures.create_write(dog(2, day=3))

    results = store.write([broken, other])

    assert [result.status for result in results] == [FAILED, WRITTEN]
    assert "JSON serializable" in results[0].reason
    assert store.get(first.image_id) == first.document  # rolled back to its savepoint
    assert search_keys(store, labels=("dog",), min_confidence=95) == []
    assert sorted(search_keys(store, labels=("dog",))) == ["dogs/1.jpg", "dogs/2.jpg"]
    # The failed write left no trace of its sequencer: the good version of it still applies.
    assert store.write([newer])[0].status == WRITTEN
    assert search_keys(store, labels=("dog",), min_confidence=95) == ["dogs/1.jpg"]


def test_threads_write_and_read_at_once(store):
    images = [dog(number, confidence=50.0 + number % 50, day=number % 30) for number in range(120)]
    batches = [images[start : start + 6] for start in range(0, len(images), 6)]

    def write(batch):
        return [result.status for result in store.write([fixtures.create_write(i) for i in batch])]

    def read(_):
        store.search(SearchQuery(Filters(labels=("animal",), text="dog"), size=5))
        store.label_counts(Filters(prefix="dogs/"), None, 10)
        return store.get(fixtures.image_id(images[0]))

    with ThreadPoolExecutor(max_workers=8) as pool:
        writes = [pool.submit(write, batch) for batch in batches]
        reads = [pool.submit(read, n) for n in range(40)]
        statuses = [status for future in writes for status in future.result()]
        for future in reads:
            future.result()  # raises whatever a reader raised

    assert statuses == [WRITTEN] * len(images)
    assert store.search(SearchQuery(Filters(labels=("dog",)), size=1)).total == len(images)


def test_concurrent_writes_of_one_image_keep_the_newest(store):
    versions = [
        Image("race.jpg", (Label(f"Label{n:02d}", 90.0),), day=1, sequencer=f"{n:04d}")
        for n in range(1, 25)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda image: store.write([fixtures.create_write(image)]), versions)
        )

    assert {result.status for [result] in results} <= {WRITTEN, STALE}
    document = store.get(fixtures.image_id(versions[0]))
    assert document["sequencer"] == "0024" and document["labels"][0]["name"] == "Label24"
    assert search_keys(store, labels=("label24",)) == ["race.jpg"]
    assert search_keys(store, labels=("label01",)) == []


# -- cursors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["relevance", "confidence", "newest"])
def test_sort_keys_survive_the_api_cursor(store, sort):
    store.write(fixtures.all_writes())
    query = SearchQuery(Filters(labels=("animal", "plant"), match=MATCH_ANY), sort=sort, size=2)
    codec = cursor.CursorCodec(cursor.signing_key("s" * 32))
    seen = []
    while True:
        page = store.search(query)
        seen += [hit.document["key"] for hit in page.hits]
        if not page.has_more:
            break
        token = codec.encode(query, page.hits[-1].sort_key)  # signed, as the API sends it
        query = SearchQuery(query.filters, query.sort, query.size, codec.decode(query, token))
    everything = store.search(SearchQuery(query.filters, sort, size=100))
    assert seen == [hit.document["key"] for hit in everything.hits]


# -- text analysis and fuzziness ------------------------------------------------------------------

# What OpenSearch 2.19's standard analyzer answered for these texts (POST /_analyze).
ANALYZED = {
    "Coffee Cup": ["coffee", "cup"],
    "don't": ["don't"],
    "U.S.A.": ["u.s.a"],
    "example.com": ["example.com"],
    "3.14 1,000": ["3.14", "1,000"],
    "a.1 1a.2": ["a", "1", "1a", "2"],
    "match_all ___": ["match_all"],
    "label:dog OR 1=1": ["label:dog", "or", "1", "1"],
    "foo-bar e-mail": ["foo", "bar", "e", "mail"],
    "Straße İstanbul ΣΟΦΟΣ": ["straße", "istanbul", "σοφοσ"],
    "cafe\u0301": ["cafe\u0301"],
    "テスト漢字": ["テスト", "漢", "字"],
    "ひらがな": ["ひ", "ら", "が", "な"],
    "x² ½ Ⅻ": ["x", "ⅻ"],
    "🐶 dog 🇫🇷": ["🐶", "dog", "🇫🇷"],
    '{"query": {"match_all": {}}}': ["query", "match_all"],
    "* % ' _": [],
    "a" * 300: ["a" * 255, "a" * 45],
}


@pytest.mark.parametrize("text", ANALYZED)
def test_analyze_splits_words_like_the_standard_analyzer(text):
    assert analyze(text) == ANALYZED[text]


@pytest.mark.parametrize(
    ("word", "edits"), [("", 0), ("ab", 0), ("cat", 1), ("rocke", 1), ("rocket", 2), ("a" * 20, 2)]
)
def test_fuzziness_auto(word, edits):
    assert allowed_edits(word) == edits


@pytest.mark.parametrize(
    ("a", "b", "limit", "expected"),
    [
        ("cat", "act", 1, True),  # a transposition is one edit
        ("rockte", "rocket", 1, True),
        ("dex", "de", 1, True),
        ("sittin", "kitten", 2, True),
        ("abc", "cab", 1, False),
        # Optimal string alignment, as Lucene: "ca" -> "abc" takes 3 edits, not 2.
        ("caxyzw", "abcxyzw", 2, False),
        ("dog", "dog", 0, True),
        ("dog", "dig", 0, False),
    ],
)
def test_within_edits(a, b, limit, expected):
    assert within_edits(a, b, limit) is expected
    assert within_edits(b, a, limit) is expected


# -- parity with the real OpenSearch node ---------------------------------------------------------


@pytest.mark.integration
def test_analyze_agrees_with_opensearch(search_client):
    texts = [*ANALYZED, *_random_texts(300)]
    for text in texts:
        tokens = search_client.indices.analyze(body={"analyzer": "standard", "text": text})
        assert analyze(text) == [token["token"] for token in tokens["tokens"]], text


@pytest.mark.integration
def test_fuzzy_matches_agree_with_opensearch(search_client, index_alias):
    rng = random.Random(5)
    words = sorted({"".join(rng.choices("abcdeé", k=rng.randint(1, 9))) for _ in range(400)})
    index = f"{index_alias}-v1"  # removed with the alias's indices after the test
    search_client.indices.create(
        index=index, body={"mappings": {"properties": {"t": {"type": "text"}}}}
    )
    bulk = "".join(
        json.dumps({"index": {"_index": index, "_id": word}})
        + "\n"
        + json.dumps({"t": word})
        + "\n"
        for word in words
    )
    search_client.bulk(body=bulk, refresh=True)
    queries = [_typo(rng, rng.choice(words)) for _ in range(200)]
    body = "".join(
        json.dumps({"index": index})
        + "\n"
        + json.dumps(
            {"size": 100, "query": {"match": {"t": {"query": query, "fuzziness": "AUTO"}}}}
        )
        + "\n"
        for query in queries
    )
    for query, response in zip(queries, search_client.msearch(body=body)["responses"], strict=True):
        expected = {hit["_id"] for hit in response["hits"]["hits"]}
        assert {w for w in words if within_edits(query, w, allowed_edits(query))} == expected, query


@pytest.fixture
def both_stores(search_client, index_alias, tmp_path):
    """Load writes into OpenSearch and SQLite; returns a check that both answer alike."""
    opensearch = ElasticsearchStore(search_client, index_alias)
    sqlite = SqliteStore(tmp_path / "images.sqlite3")

    def load(writes):
        for each in (opensearch, sqlite):
            each.write(writes)
        search_client.indices.refresh(index=index_alias)

    def assert_same_order(query):
        expected = [hit.document["key"] for hit in opensearch.search(query).hits]
        assert [hit.document["key"] for hit in sqlite.search(query).hits] == expected, query

    return load, assert_same_order


@pytest.mark.integration
def test_ties_and_repeated_labels_rank_as_in_opensearch(both_stores):
    """Scores are 32-bit floats in Lucene: 88.0 and the next float up tie once 100 is added,
    and a bound of 80.1 admits 80.0999984741211. A label asked for twice counts once."""
    load, assert_same_order = both_stores
    next_float_up = 88.00000762939453
    load(
        [
            fixtures.create_write(image)
            for image in [
                Image("a.jpg", (Label("Dog", 88.0), Label("Cat", 60.1)), day=2, text=("dog",)),
                Image("b.jpg", (Label("Dog", next_float_up), Label("Cat", 60.1)), day=1),
                Image("c.jpg", (Label("Dog", 80.0999984741211),), day=3, text=("dog",)),
                Image("d.jpg", (Label("Dog", 80.10000001),), day=4, text=("dog",)),
            ]
        ]
    )
    for filters in [
        Filters(labels=("dog",), text="dog"),
        Filters(labels=("dog", "cat"), match=MATCH_ANY, text="dog"),
        Filters(labels=("dog", "cat")),
        Filters(labels=("dog", "DOG", "cat"), match=MATCH_ANY),
        Filters(labels=("dog",), min_confidence=80.1),
    ]:
        for sort in ("relevance", "confidence"):
            assert_same_order(SearchQuery(filters, sort=sort))


@pytest.mark.integration
def test_times_within_a_millisecond_tie_as_in_opensearch(both_stores):
    load, assert_same_order = both_stores
    start = fixtures.BASE_TIME + timedelta(milliseconds=123)
    # Image ids order a < d < b: in one millisecond the index orders by id, not by microsecond.
    microseconds = {"a.jpg": 100, "d.jpg": 500, "b.jpg": 900, "c.jpg": 1000}
    load(
        [
            fixtures.create_write(
                Image(key, (Label("Dog", 90.0),), day=1), at=start + timedelta(microseconds=offset)
            )
            for key, offset in microseconds.items()
        ]
    )
    since, until = (canonical_time(start + timedelta(microseconds=n)) for n in (500, 999))
    assert_same_order(SearchQuery(sort="newest"))
    assert_same_order(SearchQuery(Filters(since=since), sort="newest"))
    assert_same_order(SearchQuery(Filters(until=until), sort="newest"))


def _random_texts(count):
    rng = random.Random(1)
    alphabet = [*string.ascii_letters[:6], *"019 .,:;'\u2019_-@/*%ÀéßΣσ日カひ", "\u0301"]
    return ["".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(count)]


def _typo(rng, word):
    chars = list(word)
    for _ in range(rng.randint(0, 3)):
        at = rng.randrange(len(chars) + 1)
        edit = rng.choice(["insert", "delete", "replace", "swap"])
        if edit == "insert":
            chars.insert(at, rng.choice("abcdeé"))
        elif edit == "delete" and len(chars) > 1:
            del chars[min(at, len(chars) - 1)]
        elif edit == "replace" and chars:
            chars[min(at, len(chars) - 1)] = rng.choice("abcdeé")
        elif edit == "swap" and len(chars) > 1:
            at = min(at, len(chars) - 2)
            chars[at], chars[at + 1] = chars[at + 1], chars[at]
    return "".join(chars)
