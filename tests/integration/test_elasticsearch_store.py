"""The Elasticsearch store against a real node of whichever engine the session runs."""

import logging
from datetime import UTC, datetime

import pytest
from elasticsearch import Elasticsearch
from elasticsearch.exceptions import AuthorizationException

from chalicelib import documents
from chalicelib.events import CREATED, REMOVED, ObjectEvent
from chalicelib.logs import LOGGER_NAME
from chalicelib.search.query import Filters, SearchQuery
from chalicelib.store import engine, mapping
from chalicelib.store.base import FAILED, STALE, WRITTEN, ImageWrite
from chalicelib.store.elasticsearch_store import ElasticsearchStore
from chalicelib.store.mapping import versioned_index
from chalicelib.vocabulary import ImageAnalysis
from tests.version_1_index import create_version_1_index

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)


def label(name, confidence, parents=()):
    return {
        "name": name,
        "confidence": confidence,
        "parents": list(parents),
        "aliases": [],
        "categories": [],
        "instances": [],
    }


def event(action, key, sequencer, bucket="photos"):
    return ObjectEvent(
        action=action,
        bucket=bucket,
        key=key,
        event_name="ObjectCreated:Put" if action == CREATED else "ObjectRemoved:Delete",
        event_time="2026-11-27T20:00:00.000000Z",
        region="us-east-1",
        size=100 if action == CREATED else None,
        etag="etag" if action == CREATED else None,
        version_id=None,
        sequencer=sequencer,
    )


def created(key, sequencer, *labels):
    labels = labels or (label("Dog", 90.0, ["Animal"]),)
    analysis = ImageAnalysis(labels=list(labels), label_model_version="3.0")
    doc = documents.image_document(event(CREATED, key, sequencer), analysis, "us-east-1", NOW)
    return ImageWrite(doc["image_id"], doc)


def removed(key, sequencer):
    doc = documents.tombstone(event(REMOVED, key, sequencer), NOW)
    return ImageWrite(doc["image_id"], doc)


@pytest.fixture
def store(search_client, index_alias):
    return ElasticsearchStore(search_client, index_alias)


def stored(search_client, alias):
    search_client.indices.refresh(index=alias)
    hits = search_client.search(index=alias, body={"size": 100})["hits"]["hits"]
    return {hit["_source"]["key"]: hit["_source"] for hit in hits}


def statuses(results):
    return [result.status for result in results]


def test_the_engine_is_detected_from_the_node_itself(search_client, expected_engine):
    detected = engine.detect(search_client)
    assert detected is engine.detect(search_client)  # one GET / per client
    if expected_engine is not None:
        assert (detected.engine.distribution, detected.engine.version) == (
            expected_engine.distribution,
            expected_engine.version,
        )
    # Mapping types exist only on Elasticsearch 6.x; every other engine takes typeless bodies.
    six = detected.engine.distribution == engine.Distribution.ELASTICSEARCH
    six = six and detected.engine.version.major == 6
    assert (detected.mapping_type == "_doc") is six


def test_ensure_ready_creates_template_versioned_index_and_write_alias(
    search_client, compat, store
):
    store.ensure_ready()
    ElasticsearchStore(search_client, store.alias).ensure_ready()  # a second instance: no-op

    alias = store.alias
    aliases = search_client.indices.get_alias(name=alias)
    assert aliases == {versioned_index(alias): {"aliases": {alias: {"is_write_index": True}}}}
    answer = search_client.indices.get_mapping(index=alias)[versioned_index(alias)]["mappings"]
    mapping = compat.index_mappings(answer)
    assert mapping["properties"]["labels"]["type"] == "nested"
    assert mapping["properties"]["label_names"]["normalizer"] == "label_normalizer"
    assert mapping["properties"]["event_time"]["type"] == "date"
    assert search_client.indices.exists_template(name=alias)


def test_written_documents_are_case_and_accent_insensitive(search_client, compat, store):
    assert statuses(store.write([created("cafe.jpg", "01", label("Café", 99.0))])) == [WRITTEN]
    search_client.indices.refresh(index=store.alias)
    for term in ("cafe", "CAFÉ", "café"):
        found = search_client.search(
            index=store.alias, body={"query": {"term": {"label_names": term}}}
        )
        assert compat.total_hits(found["hits"], limit=10) == (1, True), term
    source = stored(search_client, store.alias)["cafe.jpg"]
    assert source["label_names"] == ["Café"]  # the original casing is kept for display


def test_redelivered_event_creates_no_duplicate(search_client, store):
    write = created("dog.jpg", "0A")
    assert statuses(store.write([write])) == [WRITTEN]
    assert statuses(store.write([write])) == [STALE]
    assert list(stored(search_client, store.alias)) == ["dog.jpg"]
    assert store.get(write.image_id)["key"] == "dog.jpg"


def test_late_create_never_resurrects_a_deleted_image(search_client, store):
    image_id = created("cat.jpg", "10").image_id
    # The delete (sequencer 20) is processed before the create that preceded it (10).
    assert statuses(store.write([removed("cat.jpg", "20")])) == [WRITTEN]
    assert statuses(store.write([created("cat.jpg", "10")])) == [STALE]
    assert store.get(image_id) is None
    assert stored(search_client, store.alias)["cat.jpg"]["deleted"] is True
    # A later upload of the same key brings it back.
    assert statuses(store.write([created("cat.jpg", "30")])) == [WRITTEN]
    assert store.get(image_id)["sequencer"] == "30"


def test_late_create_never_overwrites_a_newer_create(store):
    first, second = created("a.jpg", "01", label("Old", 90.0)), created("a.jpg", "02")
    assert statuses(store.write([second])) == [WRITTEN]
    assert statuses(store.write([first])) == [STALE]
    assert [item["name"] for item in store.get(first.image_id)["labels"]] == ["Dog"]


def test_create_and_delete_in_one_batch_end_deleted_in_any_order(store):
    results = store.write([removed("b.jpg", "05"), created("b.jpg", "04"), created("c.jpg", "01")])
    assert statuses(results) == [WRITTEN, STALE, WRITTEN]
    assert store.get(created("b.jpg", "04").image_id) is None
    assert store.get(created("c.jpg", "01").image_id) is not None


def test_nested_confidence_is_evaluated_per_label(search_client, store):
    store.write(
        [
            created("mixed.jpg", "01", label("Dog", 60.0), label("Cat", 95.0)),
            created("sure-dog.jpg", "01", label("Dog", 85.0)),
        ]
    )
    search_client.indices.refresh(index=store.alias)
    dog_at_least_80 = {
        "nested": {
            "path": "labels",
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"labels.name": "dog"}},
                        {"range": {"labels.confidence": {"gte": 80}}},
                    ]
                }
            },
        }
    }
    hits = search_client.search(index=store.alias, body={"query": dog_at_least_80})
    assert [hit["_source"]["key"] for hit in hits["hits"]["hits"]] == ["sure-dog.jpg"]


def test_a_rejected_item_fails_alone(search_client, store):
    # A real per-document rejection that every engine produces: the mapping is strict, and
    # this document has a field the mapping does not know.
    bad = created("bad.jpg", "01")
    bad = ImageWrite(bad.image_id, {**bad.document, "not_in_the_mapping": 1})
    results = store.write([created("small.jpg", "01"), bad])
    assert statuses(results) == [WRITTEN, FAILED]
    assert results[1].reason.startswith("strict_dynamic_mapping_exception")
    assert "not_in_the_mapping" in results[1].reason
    assert list(stored(search_client, store.alias)) == ["small.jpg"]


def test_an_unreachable_cluster_fails_every_write_with_a_reason(index_alias):
    unreachable = Elasticsearch(["http://127.0.0.1:9"], timeout=1, max_retries=0)
    results = ElasticsearchStore(unreachable, index_alias).write(
        [created("x.jpg", "01"), removed("y.jpg", "01")]
    )
    assert statuses(results) == [FAILED, FAILED]
    assert all(result.reason.startswith("search cluster error") for result in results)


class SentBodies:
    """The search bodies a store sends (wrapping its client's ``search``)."""

    def __init__(self, client):
        self.bodies, self._search = [], client.search
        client.search = self

    def __call__(self, *args, **kwargs):
        self.bodies.append(kwargs["body"])
        return self._search(*args, **kwargs)

    def use_bands(self) -> bool:
        return "label_bands" in str(self.bodies[-1]["query"])


def test_a_version_1_index_gets_the_band_fields_and_version_1_queries_until_the_swap(
    search_client, compat, index_alias
):
    create_version_1_index(search_client, index_alias)
    store = ElasticsearchStore(search_client, index_alias, replicas=0)
    write = created("photos/dog.jpg", "0A")
    assert store.write([write])[0].status == WRITTEN
    search_client.indices.refresh(index=index_alias)

    old_index = versioned_index(index_alias, 1)
    mappings = compat.index_mappings(
        search_client.indices.get_mapping(index=old_index)[old_index]["mappings"]
    )
    assert set(mapping.BAND_FIELDS) <= set(mappings["properties"])
    stored = search_client.get(index=old_index, id=write.image_id)["_source"]
    assert "dog|90" in stored["label_bands"]  # version 1 keeps them in _source ...
    assert store.get(write.image_id) == write.document  # ... and no answer shows them

    sent = SentBodies(store.client)
    dogs = SearchQuery(Filters(labels=("dog",)))
    page = store.search(dogs)
    assert [hit.document for hit in page.hits] == [write.document]
    assert not sent.use_bands()

    # A migration's outcome: the same document in a version 2 index, the alias swapped.
    new_index = versioned_index(index_alias, 2)
    search_client.indices.create(index=new_index)
    document = mapping.index_document(write.document)
    search_client.index(index=new_index, id=write.image_id, body=document, refresh="true")
    search_client.indices.update_aliases(
        body={
            "actions": [
                {"remove": {"index": old_index, "alias": index_alias}},
                {"add": {"index": new_index, "alias": index_alias, "is_write_index": True}},
            ]
        }
    )
    assert [hit.document for hit in store.search(dogs).hits] == [write.document]
    assert not sent.use_bands()  # the swap is seen in that answer's hits ...
    assert [hit.document for hit in store.search(dogs).hits] == [write.document]
    assert sent.use_bands()  # ... and the next search uses version 2's queries


def test_a_state_read_before_a_migrations_swap_is_never_applied_to_the_new_index(
    search_client, index_alias, monkeypatch
):
    # _seq_no and _primary_term are per index: after the swap the pair read from the old
    # index can name another state in the new one. Here both indexes hold image 0A's first
    # state at (0, 1): the old one its oldest state, the new one a newer state.
    create_version_1_index(search_client, index_alias)
    store = ElasticsearchStore(search_client, index_alias, replicas=0)
    oldest, newest = created("photos/dog.jpg", "0A"), created("photos/dog.jpg", "0C")
    assert store.write([oldest])[0].status == WRITTEN
    read_before_swap = store.stored_states([oldest.image_id])
    old_index, new_index = versioned_index(index_alias, 1), versioned_index(index_alias, 2)
    search_client.indices.create(index=new_index)
    search_client.index(
        index=new_index, id=newest.image_id, body=mapping.index_document(newest.document)
    )
    search_client.indices.update_aliases(
        body={
            "actions": [
                {"remove": {"index": old_index, "alias": index_alias}},
                {"add": {"index": new_index, "alias": index_alias, "is_write_index": True}},
            ]
        }
    )
    search_client.indices.put_settings(index=old_index, body={"index.blocks.write": True})
    # The writer read the old index's state just before the swap (a race, forced here).
    answers = iter([read_before_swap])
    real = store.stored_states
    monkeypatch.setattr(store, "stored_states", lambda ids: next(answers, None) or real(ids))

    between = created("photos/dog.jpg", "0B")  # newer than the oldest, older than the newest
    assert store.write([between])[0].status == STALE
    stored = search_client.get(index=new_index, id=newest.image_id)["_source"]
    assert stored["sequencer"] == "0C"
    search_client.indices.put_settings(index=old_index, body={"index.blocks.write": False})


def test_label_counts_aggregate_once_the_ranking_is_refused(search_client, store, caplog):
    # A stage whose API role predates _termvectors and _msearch answers 403 to them.
    writes = [
        created("a.jpg", "01", label("Kite", 90.0)),
        created("b.jpg", "02", label("Sky", 80.0)),
    ]
    store.write(writes)
    search_client.indices.refresh(index=store.alias)
    expected = store.label_counts(Filters(), None, 10)
    refusals = []

    def refuse(**kwargs):
        refusals.append(kwargs)
        raise AuthorizationException(403, "security_exception", {})

    store.client.termvectors = refuse
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(caplog.handler)  # the project's logger does not propagate
    try:
        assert store.label_counts(Filters(), None, 10) == expected
        assert store.label_counts(Filters(), "k", 10) == expected[:1]
    finally:
        logger.removeHandler(caplog.handler)
    assert len(refusals) == 1  # the aggregation from then on
    assert "label ranking refused" in caplog.text
