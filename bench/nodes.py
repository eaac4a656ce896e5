"""The OpenSearch node a benchmark talks to: one given by URL, or a fresh one it starts."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from elasticsearch import Elasticsearch


def add_node_arguments(parser, default_heap: str = "1g") -> None:
    parser.add_argument(
        "--opensearch-url",
        default=os.environ.get("OPENSEARCH_URL"),
        help="use this node instead of starting one (default: $OPENSEARCH_URL, else start one)",
    )
    parser.add_argument(
        "--heap", default=default_heap, help=f"heap of the node it starts (default {default_heap})"
    )


@contextlib.contextmanager
def opensearch(url: str | None, heap: str) -> Iterator[str]:
    """Yield the URL of a node: ``url`` as it is, or a node started (and stopped) here."""
    if url:
        yield url.rstrip("/")
        return
    from localdev.search_node import running_node  # $ENGINE, or the default engine

    with running_node(heap=heap) as node:
        yield node.url


def client(url: str, timeout: float = 60.0) -> Elasticsearch:
    return Elasticsearch([url], timeout=timeout, max_retries=0)


def drop_alias(es: Elasticsearch, alias: str) -> None:
    """Delete an alias's versioned indices and its template (what ElasticsearchStore made)."""
    es.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
    es.indices.delete_template(name=alias, ignore=[404])
