"""The engine compatibility layer, from the GET / answers that each engine really gives."""

import pytest

from chalicelib.search.query import Filters, SearchQuery
from chalicelib.store import engine, es_queries, mapping
from chalicelib.store.base import ImageWrite
from chalicelib.store.elasticsearch_store import ElasticsearchStore
from chalicelib.store.engine import (
    Distribution,
    EngineInfo,
    UnsupportedEngine,
    Version,
    compat_for,
    engine_from_root,
)

ES_TAGLINE = "You Know, for Search"
OPENSEARCH_TAGLINE = "The OpenSearch Project: https://opensearch.org/"


def root(number, distribution=None, tagline=ES_TAGLINE, flavor="oss"):
    """A GET / answer as the engines shape it (trimmed to the fields that matter)."""
    version = {"number": number, "build_type": "zip", "build_flavor": flavor}
    if distribution:
        version["distribution"] = distribution
    return {"name": "node", "cluster_name": "c", "version": version, "tagline": tagline}


def compat(number, distribution=None, tagline=ES_TAGLINE):
    return compat_for(engine_from_root(root(number, distribution, tagline)))


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("6.8.23", Version(6, 8, 23)),
        ("3.0.0-SNAPSHOT", Version(3, 0, 0)),
        ("8.0.0-rc1", Version(8, 0, 0)),
        ("7.10", Version(7, 10, 0)),
    ],
)
def test_versions_parse_without_their_qualifiers(text, version):
    assert Version.parse(text) == version


def test_versions_order_numerically_not_as_text():
    assert Version(2, 19, 10) > Version(2, 19, 4) > Version(2, 9, 30)


def test_a_version_that_is_no_number_is_refused():
    with pytest.raises(ValueError, match="not a version number"):
        Version.parse("latest")


def test_the_distribution_comes_from_the_answer():
    assert engine_from_root(root("2.19.1", "opensearch", OPENSEARCH_TAGLINE)) == EngineInfo(
        Distribution.OPENSEARCH, Version(2, 19, 1)
    )
    assert engine_from_root(root("7.10.2")) == EngineInfo(
        Distribution.ELASTICSEARCH, Version(7, 10, 2)
    )


def test_opensearch_reporting_7_10_is_still_opensearch():
    # compatibility.override_main_response_version: no distribution, number 7.10.2.
    info = engine_from_root(root("7.10.2", tagline=OPENSEARCH_TAGLINE))
    assert info.distribution is Distribution.OPENSEARCH and info.version_hidden
    assert "version hidden" in str(info)
    # Its real version is unknown, so the workaround for issue 19636 is on.
    assert compat_for(info).prefix_terms_need_map_hint


def test_an_answer_without_a_version_is_refused_clearly():
    with pytest.raises(UnsupportedEngine, match="no version number"):
        engine_from_root({"error": "forbidden"})


def test_elasticsearch_6_8_uses_the_doc_type_and_numeric_totals():
    six = compat("6.8.23")
    assert six.mapping_type == "_doc"
    template = mapping.index_template("images", replicas=0)
    typed = six.index_body(template)
    assert typed["mappings"] == {"_doc": mapping.MAPPINGS_BY_VERSION[mapping.MAPPING_VERSION]}
    assert typed["settings"] == template["settings"]
    assert six.bulk_action({"create": {"_index": "images", "_id": "x"}}) == {
        "create": {"_index": "images", "_id": "x", "_type": "_doc"}
    }
    assert six.index_mappings({"_doc": {"properties": {}}}) == {"properties": {}}
    assert six.total_hits({"total": 3, "hits": []}, limit=10) == (3, True)
    assert six.template_params == {"include_type_name": "true"}
    assert six.put_mapping_params == {"doc_type": "_doc", "params": {"include_type_name": "true"}}


@pytest.mark.parametrize(
    ("number", "distribution"),
    [("7.10.2", None), ("7.17.9", None), ("1.3.20", "opensearch"), ("3.8.0", "opensearch")],
)
def test_every_other_engine_is_typeless(number, distribution):
    typeless = compat(number, distribution)
    assert typeless.mapping_type is None
    template = mapping.index_template("images")
    assert typeless.index_body(template) == template
    action = {"index": {"_index": "images", "_id": "x", "if_seq_no": 1, "if_primary_term": 1}}
    assert typeless.bulk_action(action) == action
    assert typeless.total_hits({"total": {"value": 5, "relation": "eq"}}, limit=10) == (5, True)
    assert typeless.template_params == {}  # OpenSearch 2.x rejects include_type_name
    assert typeless.put_mapping_params == {}


@pytest.mark.parametrize(
    ("number", "affected"),
    [
        ("2.16.0", False),
        ("2.17.0", True),
        ("2.19.1", True),
        ("2.19.3", True),
        ("2.19.4", False),
        ("3.0.0", True),
        ("3.3.1", True),
        ("3.3.2", False),
        ("3.8.0", False),
        ("1.3.20", False),
    ],
)
def test_the_map_hint_is_used_exactly_on_the_versions_with_issue_19636(number, affected):
    assert compat(number, "opensearch").prefix_terms_need_map_hint is affected


def test_the_map_hint_changes_only_prefix_aggregations():
    terms = es_queries.label_counts_body(Filters(), "do", 10, map_hint=True)["aggs"]
    assert terms["labels"]["terms"]["execution_hint"] == "map"
    assert terms["labels"]["terms"]["include"] == "[dD][oO].*"
    no_prefix = es_queries.label_counts_body(Filters(), None, 10, map_hint=True)
    assert "execution_hint" not in no_prefix["aggs"]["labels"]["terms"]
    unaffected = es_queries.label_counts_body(Filters(), "do", 10)
    assert "execution_hint" not in unaffected["aggs"]["labels"]["terms"]


@pytest.mark.parametrize(
    ("number", "distribution", "named"),
    [
        ("5.6.16", None, "Elasticsearch 5.6.16"),
        ("6.4.3", None, "Elasticsearch 6.4.3"),
        ("8.11.1", None, "Elasticsearch 8.11.1"),
        ("4.0.0", "opensearch", "OpenSearch 4.0.0"),
    ],
)
def test_unsupported_engines_get_one_error_naming_the_version_and_what_is_supported(
    number, distribution, named
):
    with pytest.raises(UnsupportedEngine) as raised:
        compat(number, distribution)
    message = str(raised.value)
    assert message.startswith(f"{named} is not supported")
    assert engine.SUPPORTED in message


class FakeClient:
    """Counts GET / requests and answers them like the given engine; nothing else may be asked."""

    def __init__(self, answer):
        self.answer, self.calls = answer, 0

    def info(self):
        self.calls += 1
        return self.answer

    def __getattr__(self, name):
        raise AssertionError(f"the store asked for {name} of an engine it must refuse")


def test_detection_asks_once_per_client():
    first, second = FakeClient(root("6.8.23")), FakeClient(root("3.8.0", "opensearch"))
    assert engine.detect(first) is engine.detect(first)
    assert engine.detect(second).mapping_type is None
    assert (first.calls, second.calls) == (1, 1)


def test_an_unsupported_engine_is_asked_again_rather_than_cached():
    client = FakeClient(root("8.11.1"))
    for _ in range(2):
        with pytest.raises(UnsupportedEngine):
            engine.detect(client)
    assert client.calls == 2


def test_the_store_refuses_an_unsupported_engine_before_any_other_request():
    store = ElasticsearchStore(FakeClient(root("8.11.1", flavor="default")), "images")
    with pytest.raises(UnsupportedEngine, match=r"Elasticsearch 8\.11\.1 is not supported"):
        store.search(SearchQuery())
    # Not a per-item failure: a wrong engine would otherwise fill the dead-letter queue.
    with pytest.raises(UnsupportedEngine):
        store.write([ImageWrite("x", {"image_id": "x", "sequencer": "01"})])
