"""Shared fixtures. Integration tests get a real search node that this session starts.

The node comes from ``OPENSEARCH_URL`` when that is set (``make search-node`` prints one; set
``ENGINE`` too so that the engine check knows what to expect), and is otherwise started on first
use by localdev.search_node (``ENGINE``, default opensearch-2.19.6) and stopped when the session
ends. A node that cannot be started or reached is an error, never a skip: the integration
tests are the proof that the Elasticsearch path works, on every engine `make test-engines` runs.
"""

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch

from chalicelib.components import Components
from chalicelib.store import engine


@pytest.fixture
def serve_components() -> Iterator[Callable[..., Components]]:
    """``serve_components(Components(store=..., ...))`` makes app.py's handlers use those
    components for the rest of the test (a fresh ``Components()`` when none is given, which
    reads the environment as the test has set it); app.py's own come back afterwards."""
    # Imported here, not at the top: app.py imports chalice, which most tests never need.
    from tests.serving import serving

    with contextlib.ExitStack() as swaps:

        def serve(components: Components | None = None) -> Components:
            return swaps.enter_context(serving(Components() if components is None else components))

        yield serve


@pytest.fixture(scope="session")
def opensearch_url():
    url = os.environ.get("OPENSEARCH_URL")
    if url:
        yield url
        return
    from localdev.search_node import running_node

    with running_node() as node:  # $ENGINE, or the default engine
        yield node.url


@pytest.fixture(scope="session")
def expected_engine():
    """The engine the session's node runs (from ENGINE or the harness default), or None for a
    node given by OPENSEARCH_URL alone."""
    from localdev.search_node import default_engine

    if os.environ.get("OPENSEARCH_URL") and not os.environ.get("ENGINE"):
        return None
    return default_engine()


@pytest.fixture(scope="session")
def search_client(opensearch_url):
    client = Elasticsearch([opensearch_url], timeout=30)
    if not client.ping():
        pytest.fail(f"The search node at {opensearch_url} does not answer")
    return client


@pytest.fixture(scope="session")
def compat(search_client) -> engine.EngineCompat:
    """The node's dialect, as the store detects it: read engine-shaped answers through it."""
    return engine.detect(search_client)


@pytest.fixture
def index_alias(search_client):
    """A fresh alias (and so a fresh versioned index) per test; removed afterwards."""
    alias = f"test-{uuid.uuid4().hex[:12]}"
    yield alias
    search_client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
    search_client.indices.delete_template(name=alias, ignore=[404])
