"""Every store implementation, loaded with the same fixture collection.

The contract suite runs once per store; a store that is listed here runs every contract test.
"""

import pytest

from chalicelib.store.elasticsearch_store import ElasticsearchStore
from localdev.embedded.sqlite_store import SqliteStore
from tests.contract import fixtures
from tests.version_1_index import create_version_1_index


def _elasticsearch(request):
    client = request.getfixturevalue("search_client")
    alias = request.getfixturevalue("index_alias")
    store = ElasticsearchStore(client, alias)
    return store, lambda: client.indices.refresh(index=alias)


def _elasticsearch_v1_index(request):
    """A version 1 index, as a stage deployed before mapping version 2 holds until it is
    migrated: the store adds the band fields to it, writes them, and uses version 1's queries."""
    client = request.getfixturevalue("search_client")
    alias = request.getfixturevalue("index_alias")
    create_version_1_index(client, alias)
    return ElasticsearchStore(client, alias), lambda: client.indices.refresh(index=alias)


def _sqlite(request):
    store = SqliteStore(request.getfixturevalue("tmp_path") / "images.sqlite3")
    return store, lambda: None


STORES = {
    "elasticsearch": _elasticsearch,
    "elasticsearch-v1-index": _elasticsearch_v1_index,
    "sqlite": _sqlite,
}


@pytest.fixture(params=sorted(STORES))
def empty_store(request):
    """(store, refresh): refresh makes writes visible to searches (a no-op where they are)."""
    return STORES[request.param](request)


@pytest.fixture
def loaded_store(empty_store):
    store, refresh = empty_store
    results = store.write(fixtures.all_writes())
    assert {result.status for result in results} <= {"written", "stale"}
    refresh()
    return store, refresh
