"""``total_is_exact`` in /search answers, through chalice.test.Client on the embedded store."""

import json

import pytest
from chalice.test import Client

import app as app_module
from chalicelib.api.search_service import ImageLinks, SearchService
from chalicelib.search.cursor import CursorCodec, signing_key
from localdev.chalice_stage import stage_copy
from localdev.embedded.sqlite_store import SqliteStore
from tests.contract import fixtures

ANIMALS = sum(any("Animal" in label.parents for label in image.labels) for image in fixtures.LIVE)


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "images.sqlite3"
    store = SqliteStore(path)
    assert {result.status for result in store.write(fixtures.all_writes())} <= {"written", "stale"}
    store.close()
    return path


@pytest.fixture
def components(serve_components):
    return serve_components()


@pytest.fixture
def api(tmp_path, database, components):
    project = stage_copy(
        tmp_path / "project",
        SEARCH_ENDPOINT="",
        SQLITE_PATH=str(database),
        AWS_REGION="us-east-1",
        # Presigning is a local computation; it only needs some credentials.
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="example-secret",
    )
    with Client(app_module.app, stage_name="dev", project_dir=str(project)) as client:
        yield client.http


def search(api, query):
    response = api.get(f"/search?{query}")
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def test_a_total_below_the_limit_is_exact(api):
    body = search(api, "label=animal&size=2")
    assert (body["total"], body["total_is_exact"]) == (ANIMALS, True)
    assert list(body)[:2] == ["total", "total_is_exact"]


def test_past_the_limit_the_total_is_the_limit_and_every_page_says_so(api, components, database):
    # The service as Components builds it, with a limit below the fixtures' animals.
    cursors = CursorCodec(signing_key("test-secret"))
    components.search_service = SearchService(
        SqliteStore(database),
        ImageLinks(None, 60, presign=False),
        0.0,
        cursors,
        total_hits_limit=3,
    )
    assert ANIMALS > 3
    keys, token = [], None
    while True:
        body = search(api, "label=animal&size=2" + (f"&next={token}" if token else ""))
        assert (body["total"], body["total_is_exact"]) == (3, False)
        keys += [item["key"] for item in body["items"]]
        token = body["next"]
        if token is None:
            break
    assert len(keys) == len(set(keys)) == ANIMALS
