"""Source of dashboards/image-label-search.ndjson: the index pattern, four charts, a dashboard.

Saved objects store their chart definitions as JSON strings inside JSON; they are written here
as Python dicts and serialised once. After a change, regenerate the shipped file with

    python -m localdev.aws.saved_objects

(tests/deploy checks that the file matches and that every field it names exists in
chalicelib/store/mapping.py). The format is Kibana 7.10's export format, which Amazon
OpenSearch Service's Elasticsearch 7.x Kibana and every OpenSearch Dashboards import.

Charts:

* Top labels: terms on ``label_names.raw`` (the flat keyword copy; nested fields cannot be
  aggregated by the standard visualisations).
* Labels over time: date histogram on ``indexed_at`` split by the top five ``label_names.raw``.
* Label confidence: a Vega chart, because ``labels.confidence`` lives in the ``nested`` labels
  field: a nested aggregation with a histogram over every label of every image in the time range.
* Images indexed per day: date histogram on ``indexed_at``, tombstones (``deleted: true``)
  excluded.
"""

from __future__ import annotations

import json
from pathlib import Path

from localdev.aws.dashboards import DASHBOARD_ID, SAVED_OBJECTS_PATH

INDEX_PATTERN_ID = "imagerepository-index-pattern"
INDEX_PATTERN_TITLE = "imagerepository*"
TIME_FIELD = "indexed_at"
ALIAS = "imagerepository"
NOT_DELETED = {"query": "not deleted:true", "language": "kuery"}
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
KIBANA_VERSION = "7.10.2"


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _count():
    return {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}}


def _terms(agg_id: str, schema: str, field: str, size: int):
    return {
        "id": agg_id,
        "enabled": True,
        "type": "terms",
        "schema": schema,
        "params": {
            "field": field,
            "size": size,
            "order": "desc",
            "orderBy": "1",
            "otherBucket": False,
            "otherBucketLabel": "Other",
            "missingBucket": False,
            "missingBucketLabel": "Missing",
        },
    }


def _date_histogram(agg_id: str, interval: str):
    return {
        "id": agg_id,
        "enabled": True,
        "type": "date_histogram",
        "schema": "segment",
        "params": {
            "field": TIME_FIELD,
            "useNormalizedEsInterval": True,
            "interval": interval,
            "drop_partials": False,
            "min_doc_count": 1,
            "extended_bounds": {},
        },
    }


def _xy_params(chart: str, mode: str, horizontal: bool = False) -> dict:
    category_position, value_position = ("left", "bottom") if horizontal else ("bottom", "left")
    return {
        "type": chart if not horizontal else "histogram",
        "grid": {"categoryLines": False},
        "categoryAxes": [
            {
                "id": "CategoryAxis-1",
                "type": "category",
                "position": category_position,
                "show": True,
                "style": {},
                "scale": {"type": "linear"},
                "labels": {"show": True, "filter": not horizontal, "truncate": 200},
                "title": {},
            }
        ],
        "valueAxes": [
            {
                "id": "ValueAxis-1",
                "name": "LeftAxis-1",
                "type": "value",
                "position": value_position,
                "show": True,
                "style": {},
                "scale": {"type": "linear", "mode": "normal"},
                "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                "title": {"text": "Images"},
            }
        ],
        "seriesParams": [
            {
                "show": True,
                "type": chart,
                "mode": mode,
                "data": {"label": "Images", "id": "1"},
                "valueAxis": "ValueAxis-1",
                "drawLinesBetweenPoints": True,
                "lineWidth": 2,
                "interpolate": "linear",
                "showCircles": True,
            }
        ],
        "addTooltip": True,
        "addLegend": True,
        "legendPosition": "right",
        "times": [],
        "addTimeMarker": False,
        "labels": {"show": horizontal},
        "thresholdLine": {
            "show": False,
            "value": 10,
            "width": 1,
            "style": "full",
            "color": "#E7664C",
        },
    }


def _visualization(vis_id: str, title: str, description: str, vis_type: str, params, aggs, query):
    search_source = {"query": query, "filter": []}
    references = []
    if aggs:
        search_source["indexRefName"] = INDEX_REF
        references = [{"name": INDEX_REF, "type": "index-pattern", "id": INDEX_PATTERN_ID}]
    return {
        "id": vis_id,
        "type": "visualization",
        "attributes": {
            "title": title,
            "description": description,
            "version": 1,
            "uiStateJSON": "{}",
            "visState": _dumps({"title": title, "type": vis_type, "params": params, "aggs": aggs}),
            "kibanaSavedObjectMeta": {"searchSourceJSON": _dumps(search_source)},
        },
        "references": references,
        "migrationVersion": {"visualization": "7.10.0"},
    }


CONFIDENCE_SPEC = {
    "$schema": "https://vega.github.io/schema/vega-lite/v4.json",
    "title": "Confidence of every label (nested labels.confidence)",
    "data": {
        "url": {
            "index": ALIAS,
            "%context%": True,
            "%timefield%": TIME_FIELD,
            "body": {
                "size": 0,
                "aggs": {
                    "labels": {
                        "nested": {"path": "labels"},
                        "aggs": {
                            "confidence": {
                                "histogram": {
                                    "field": "labels.confidence",
                                    "interval": 5,
                                    "min_doc_count": 0,
                                    "extended_bounds": {"min": 50, "max": 95},
                                }
                            }
                        },
                    }
                },
            },
        },
        "format": {"property": "aggregations.labels.confidence.buckets"},
    },
    "mark": {"type": "bar", "tooltip": True},
    "encoding": {
        "x": {"field": "key", "type": "ordinal", "title": "confidence (%, 5-point bins)"},
        "y": {"field": "doc_count", "type": "quantitative", "title": "labels"},
    },
}


def build() -> list[dict]:
    index_pattern = {
        "id": INDEX_PATTERN_ID,
        "type": "index-pattern",
        # No "fields": Kibana and Dashboards read the field list from the cluster on first use.
        "attributes": {"title": INDEX_PATTERN_TITLE, "timeFieldName": TIME_FIELD},
        "references": [],
        "migrationVersion": {"index-pattern": "7.6.0"},
    }
    visualizations = [
        _visualization(
            "image-label-search-top-labels",
            "Top labels",
            "The 20 most frequent labels (and parent labels) across indexed images.",
            "horizontal_bar",
            _xy_params("histogram", "normal", horizontal=True),
            [_count(), _terms("2", "segment", "label_names.raw", 20)],
            NOT_DELETED,
        ),
        _visualization(
            "image-label-search-labels-over-time",
            "Labels over time",
            "Images per indexing date, split by the five most frequent labels.",
            "line",
            _xy_params("line", "normal"),
            [_count(), _date_histogram("2", "auto"), _terms("3", "group", "label_names.raw", 5)],
            NOT_DELETED,
        ),
        _visualization(
            "image-label-search-label-confidence",
            "Label confidence",
            "How confident Rekognition was, over every label of every image (nested field).",
            "vega",
            {"spec": json.dumps(CONFIDENCE_SPEC, indent=2)},
            [],
            {"query": "", "language": "kuery"},
        ),
        _visualization(
            "image-label-search-images-per-day",
            "Images indexed per day",
            "Images indexed (or re-indexed) per day; deleted images are excluded.",
            "histogram",
            _xy_params("histogram", "stacked"),
            [_count(), _date_histogram("2", "d")],
            NOT_DELETED,
        ),
    ]
    layout = [(0, 0, 24, 15), (24, 0, 24, 15), (0, 15, 24, 15), (24, 15, 24, 15)]
    panels = [
        {
            "version": KIBANA_VERSION,
            "gridData": {"x": x, "y": y, "w": w, "h": h, "i": str(n + 1)},
            "panelIndex": str(n + 1),
            "embeddableConfig": {},
            "panelRefName": f"panel_{n}",
        }
        for n, (x, y, w, h) in enumerate(layout)
    ]
    dashboard = {
        "id": DASHBOARD_ID,
        "type": "dashboard",
        "attributes": {
            "title": "Image Label Search",
            "description": "What Rekognition found in the uploaded images, and when they arrived.",
            "hits": 0,
            "version": 1,
            "timeRestore": True,
            "timeFrom": "now-30d",
            "timeTo": "now",
            "refreshInterval": {"pause": True, "value": 0},
            "optionsJSON": _dumps({"hidePanelTitles": False, "useMargins": True}),
            "panelsJSON": _dumps(panels),
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _dumps(
                    {"query": {"query": "", "language": "kuery"}, "filter": []}
                )
            },
        },
        "references": [
            {"name": f"panel_{n}", "type": "visualization", "id": vis["id"]}
            for n, vis in enumerate(visualizations)
        ],
        "migrationVersion": {"dashboard": "7.9.3"},
    }
    return [index_pattern, *visualizations, dashboard]


def render() -> str:
    return "".join(json.dumps(obj, sort_keys=True) + "\n" for obj in build())


def write(path: Path = SAVED_OBJECTS_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    return path


if __name__ == "__main__":
    print(f"wrote {write()}")
