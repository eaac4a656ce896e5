"""A quick check that a node has what the app relies on (stdlib HTTP only)."""

from __future__ import annotations

import json
import urllib.request
import uuid

from chalicelib.store.engine import EngineCompat, compat_for, engine_from_root


def request_json(method: str, url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def smoke_test(url: str) -> EngineCompat:
    """An asciifolding keyword normalizer and nested queries work; returns the engine's dialect
    as the store will detect it."""
    compat = compat_for(engine_from_root(request_json("GET", url)))
    index = f"{url}/localdev-smoke-{uuid.uuid4().hex[:8]}"
    body = {
        "settings": {
            "analysis": {
                "normalizer": {
                    "folded": {"type": "custom", "filter": ["lowercase", "asciifolding"]}
                }
            }
        },
        "mappings": {
            "properties": {
                "name": {"type": "keyword", "normalizer": "folded"},
                "labels": {"type": "nested", "properties": {"name": {"type": "keyword"}}},
            }
        },
    }
    request_json("PUT", index, compat.index_body(body))
    try:
        doc = {"name": "Café", "labels": [{"name": "Cat"}]}
        request_json("PUT", f"{index}/_doc/1?refresh=true", doc)
        queries = {
            "folded term": {"term": {"name": "cafe"}},
            "nested term": {
                "nested": {"path": "labels", "query": {"term": {"labels.name": "Cat"}}}
            },
        }
        for what, query in queries.items():
            hits = request_json("POST", f"{index}/_search", {"query": query})["hits"]["hits"]
            if len(hits) != 1:
                raise RuntimeError(f"smoke test: {what} query found {len(hits)} docs, not 1")
    finally:
        request_json("DELETE", index)
    return compat
