"""Shared fixtures. Integration tests get a real OpenSearch node that this session starts.

The node comes from ``OPENSEARCH_URL`` when that is set (``make opensearch`` prints one), and
is otherwise started on first use by localdev.opensearch_node and stopped when the session
ends. A node that cannot be started or reached is an error, never a skip: the integration
tests are the proof that the Elasticsearch path works.
"""

import os
import uuid

import pytest
from elasticsearch import Elasticsearch


@pytest.fixture(scope="session")
def opensearch_url():
    url = os.environ.get("OPENSEARCH_URL")
    if url:
        yield url
        return
    from localdev.opensearch_node import running_node

    with running_node() as node:
        yield node.url


@pytest.fixture(scope="session")
def search_client(opensearch_url):
    client = Elasticsearch([opensearch_url], timeout=30)
    if not client.ping():
        pytest.fail(f"OpenSearch at {opensearch_url} does not answer")
    return client


@pytest.fixture
def index_alias(search_client):
    """A fresh alias (and so a fresh versioned index) per test; removed afterwards."""
    alias = f"test-{uuid.uuid4().hex[:12]}"
    yield alias
    search_client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
    search_client.indices.delete_template(name=alias, ignore=[404])
