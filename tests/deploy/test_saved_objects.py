"""dashboards/image-label-search.ndjson parses, hangs together and charts only real fields."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.store import mapping
from localdev.aws import saved_objects
from localdev.aws.dashboards import DASHBOARD_ID, SAVED_OBJECTS_PATH

AGGREGATABLE = {"keyword", "date", "long", "integer", "short", "byte", "float", "double", "boolean"}


def mapping_fields(properties=None, prefix="", nested=None) -> dict[str, dict]:
    """Every field path in chalicelib/store/mapping.py -> its type, nested path and index flag."""
    fields = {}
    for name, spec in (properties or mapping.MAPPINGS["properties"]).items():
        path = f"{prefix}{name}"
        kind = spec.get("type", "object")
        fields[path] = {"type": kind, "nested": nested, "index": spec.get("index", True)}
        for sub, sub_spec in spec.get("fields", {}).items():
            fields[f"{path}.{sub}"] = {"type": sub_spec["type"], "nested": nested, "index": True}
        if "properties" in spec:
            inner = path if kind == "nested" else nested
            fields.update(mapping_fields(spec["properties"], f"{path}.", inner))
    return fields


FIELDS = mapping_fields()


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    lines = SAVED_OBJECTS_PATH.read_text().splitlines()
    assert all(line.strip() for line in lines)
    return [json.loads(line) for line in lines]


def _by_type(objects, kind):
    return [o for o in objects if o["type"] == kind]


def test_file_is_generated_from_saved_objects_module():
    assert SAVED_OBJECTS_PATH.read_text() == saved_objects.render()


def test_one_index_pattern_on_indexed_at(objects):
    (pattern,) = _by_type(objects, "index-pattern")
    assert pattern["attributes"]["title"] == "imagerepository*"
    assert pattern["attributes"]["timeFieldName"] == "indexed_at"
    assert FIELDS["indexed_at"]["type"] == "date"
    # The pattern matches the alias and every versioned index behind it.
    assert re.fullmatch(pattern["attributes"]["title"].replace("*", ".*"), "imagerepository-v1")


def test_references_resolve_inside_the_file(objects):
    ids = {(o["type"], o["id"]) for o in objects}
    assert len(ids) == len(objects)
    for obj in objects:
        names = {ref["name"] for ref in obj["references"]}
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in ids, ref
        meta = json.loads(
            obj["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}")
        )
        if "indexRefName" in meta:
            assert meta["indexRefName"] in names
        if obj["type"] == "dashboard":
            panels = json.loads(obj["attributes"]["panelsJSON"])
            assert {p["panelRefName"] for p in panels} == names
            assert len(panels) == len(_by_type(objects, "visualization")) == 4


def test_dashboard_holds_the_four_charts(objects):
    (dashboard,) = _by_type(objects, "dashboard")
    assert dashboard["id"] == DASHBOARD_ID
    titles = {v["attributes"]["title"] for v in _by_type(objects, "visualization")}
    assert titles == {
        "Top labels",
        "Labels over time",
        "Label confidence",
        "Images indexed per day",
    }


def _query_fields(query: dict) -> set[str]:
    return set(re.findall(r"([A-Za-z_][\w.]*)\s*:", query.get("query", "")))


def test_standard_charts_aggregate_real_flat_fields(objects):
    used = {}
    for vis in _by_type(objects, "visualization"):
        state = json.loads(vis["attributes"]["visState"])
        assert state["title"] == vis["attributes"]["title"]
        search = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        for field in _query_fields(search["query"]):
            assert field in FIELDS, field
        if state["type"] == "vega":
            continue
        for agg in state["aggs"]:
            field = agg["params"].get("field")
            if field is None:
                continue
            info = FIELDS.get(field)
            assert info is not None, f"{vis['id']}: {field} is not in the mapping"
            assert info["nested"] is None, f"{vis['id']}: {field} is nested; charts cannot use it"
            assert info["type"] in AGGREGATABLE and info["index"], f"{field} is not aggregatable"
            used.setdefault(state["title"], []).append((agg["type"], field))
    assert used["Top labels"] == [("terms", "label_names.raw")]
    assert used["Labels over time"] == [
        ("date_histogram", "indexed_at"),
        ("terms", "label_names.raw"),
    ]
    assert used["Images indexed per day"] == [("date_histogram", "indexed_at")]


def _vega_fields(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("field", "path", "%timefield%") and isinstance(value, str):
                found.append((key, value))
            _vega_fields(value, found)
    elif isinstance(node, list):
        for item in node:
            _vega_fields(item, found)
    return found


def test_confidence_chart_uses_a_nested_aggregation_on_labels(objects):
    (vega,) = [
        v
        for v in _by_type(objects, "visualization")
        if json.loads(v["attributes"]["visState"])["type"] == "vega"
    ]
    spec = json.loads(json.loads(vega["attributes"]["visState"])["params"]["spec"])
    url = spec["data"]["url"]
    assert url["index"] == "imagerepository"
    aggs = url["body"]["aggs"]["labels"]
    assert aggs["nested"] == {"path": "labels"}
    assert aggs["aggs"]["confidence"]["histogram"]["field"] == "labels.confidence"
    for key, value in _vega_fields(url, []):
        assert value in FIELDS, value
        if key == "path":
            assert FIELDS[value]["type"] == "nested"
        if key == "field":
            # Inside the nested aggregation, fields must belong to that nested path.
            assert FIELDS[value]["nested"] == "labels" and FIELDS[value]["type"] == "float"
        if key == "%timefield%":
            assert FIELDS[value]["type"] == "date"
    assert spec["data"]["format"]["property"] == "aggregations.labels.confidence.buckets"


def test_charts_that_count_images_exclude_tombstones(objects):
    for vis in _by_type(objects, "visualization"):
        state = json.loads(vis["attributes"]["visState"])
        if state["type"] == "vega":
            continue  # tombstones carry no labels, so the nested aggregation never sees them
        search = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert search["query"] == {"query": "not deleted:true", "language": "kuery"}
    assert FIELDS["deleted"]["type"] == "boolean"
