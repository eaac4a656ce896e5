"""What the real node refuses reaches the API as a 400 (never a 500), and a stage whose index
does not exist yet answers every route as an empty one."""

import json
import uuid

import pytest
from chalice.test import Client

import app as app_module
from chalicelib.api.params import MAX_KEY_PREFIX_BYTES
from chalicelib.search.query import Filters, SearchQuery
from chalicelib.store.base import QueryRejected
from chalicelib.store.elasticsearch_store import ElasticsearchStore
from localdev.chalice_stage import stage_copy

pytestmark = pytest.mark.integration


def test_the_nodes_400_is_a_rejected_query(search_client, index_alias):
    store = ElasticsearchStore(search_client, index_alias, replicas=0)
    store.ensure_ready()
    # The cursor refuses such a key before any store sees it; this is the net below it.
    with pytest.raises(QueryRejected, match="search_after has 1 value"):
        store.search(SearchQuery(Filters(), after=(1.0,)))


@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])
def test_the_apis_key_prefix_limit_is_safe_on_the_engine(search_client, index_alias, char):
    # OpenSearch 2.x refuses prefix queries over 1,000 bytes of UTF-8 ("input automaton is too
    # large"); the API's limit of 512 bytes must pass on whichever engine the session runs.
    store = ElasticsearchStore(search_client, index_alias, replicas=0)
    store.ensure_ready()
    prefix = char * (MAX_KEY_PREFIX_BYTES // len(char.encode()))
    assert store.search(SearchQuery(Filters(prefix=prefix))).total == 0


@pytest.fixture
def fresh_stage_api(tmp_path, serve_components, opensearch_url):
    """The API of a stage right after a plain deploy: the alias names no index yet."""
    serve_components()
    project = stage_copy(
        tmp_path,
        SEARCH_ENDPOINT=opensearch_url,
        INDEX_ALIAS=f"never-written-{uuid.uuid4().hex[:8]}",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="example-secret",
    )
    with Client(app_module.app, stage_name="dev", project_dir=str(project)) as client:
        yield client.http


NOTHING_FOUND = {"total": 0, "total_is_exact": True, "items": [], "next": None}


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/search?label=dog&sort=newest", 200, NOTHING_FOUND),
        ("/search?q=coffee&prefix=a%2F", 200, NOTHING_FOUND),
        ("/labels?prefix=do", 200, {"labels": []}),
        (
            "/images/" + "0" * 64,
            404,
            {"error": "no image with id " + "0" * 64, "parameter": "id"},
        ),
        ("/health", 200, {"status": "ok"}),
    ],
)
def test_a_stage_without_an_index_answers_every_route_as_empty(fresh_stage_api, path, status, body):
    response = fresh_stage_api.get(path)
    assert (response.status_code, json.loads(response.body)) == (status, body)
