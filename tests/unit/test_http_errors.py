"""chalicelib.api.http is the one place where errors become statuses; each one is JSON."""

import json
import logging

import pytest
from chalice import Chalice
from chalice.test import Client

import app as app_module
from chalicelib.api.errors import (
    ApiError,
    BadRequest,
    InvalidParameter,
    NotFound,
    ServiceUnavailable,
)
from chalicelib.api.http import error_response, json_api
from chalicelib.api.search_service import ImageLinks, SearchService
from chalicelib.components import Components
from chalicelib.search.cursor import CursorCodec, signing_key
from chalicelib.store.base import QueryRejected, StoreUnavailable

ERRORS = {
    "invalid": InvalidParameter("size", "size must be an integer from 1 to 100"),
    "rejected": QueryRejected("RequestError(400, 'search_phase_execution_exception')"),
    "unavailable": StoreUnavailable("ConnectionError: refused"),
}

app = Chalice(app_name="http-errors")


@app.route("/fail/{kind}")
@json_api(app)
def fail(kind):
    raise ERRORS[kind]


@pytest.mark.parametrize(
    ("kind", "status", "body"),
    [
        ("invalid", 400, {"error": "size must be an integer from 1 to 100", "parameter": "size"}),
        (
            "rejected",
            400,
            {"error": "the search cluster rejected the query; change the parameters"},
        ),
        ("unavailable", 503, {"error": "the search cluster is unavailable; try again later"}),
    ],
)
def test_each_error_is_one_json_status(kind, status, body, caplog):
    with Client(app) as client:
        response = client.http.get(f"/fail/{kind}")
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == body
    if kind == "rejected":
        [line] = [r for r in caplog.records if r.message.startswith("search cluster rejected")]
        assert "search_phase_execution_exception" in line.reason


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (
            InvalidParameter("q", "q must not be empty"),
            400,
            {"error": "q must not be empty", "parameter": "q"},
        ),
        (BadRequest("change the parameters"), 400, {"error": "change the parameters"}),
        (
            NotFound("no image with id x", "id"),
            404,
            {"error": "no image with id x", "parameter": "id"},
        ),
        (NotFound("uploads are off"), 404, {"error": "uploads are off"}),
        (
            ServiceUnavailable("the search cluster is unavailable"),
            503,
            {"error": "the search cluster is unavailable"},
        ),
    ],
)
def test_each_api_error_is_its_status_and_body_in_the_one_mapping(error, status, body, monkeypatch):
    assert isinstance(error, ApiError)
    response = error_response(error)
    assert (response.status_code, response.body) == (status, body)
    assert response.headers == {"Content-Type": "application/json"}
    monkeypatch.setitem(ERRORS, "api", error)
    with Client(app) as client:
        answer = client.http.get("/fail/api")
    assert (answer.status_code, json.loads(answer.body)) == (status, body)


def test_a_route_without_a_table_refuses_every_query_parameter():
    with Client(app) as client:
        response = client.http.get("/fail/invalid?x=1")
    assert response.status_code == 400
    assert json.loads(response.body) == {
        "error": "unknown parameter 'x'; allowed: ",
        "parameter": "x",
    }


class DownStore:
    """A store whose cluster answers nothing and holds nothing."""

    def ping(self):
        return False

    def get(self, image_id):
        return None


@pytest.fixture
def app_without_uploads_or_cluster(serve_components):
    store = DownStore()
    links = ImageLinks(None, expiry_seconds=60, presign=False)
    service = SearchService(store, links, 0.0, CursorCodec(signing_key("k" * 32)))
    serve_components(
        Components(
            store=store, search_service=service, upload_forms=None, logger=logging.getLogger("t")
        )
    )
    with Client(app_module.app) as client:
        yield client.http


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        (
            "GET",
            f"/images/{'0' * 64}",
            404,
            {"error": f"no image with id {'0' * 64}", "parameter": "id"},
        ),
        (
            "GET",
            "/images/NOT-HEX",
            400,
            {"error": "id must be the 64 lowercase hex characters of an image", "parameter": "id"},
        ),
        ("GET", "/health", 503, {"error": "the search cluster is unavailable"}),
        (
            "POST",
            "/uploads",
            404,
            {"error": "uploads are not enabled on this stage (UPLOAD_BUCKET)"},
        ),
    ],
)
def test_services_raise_the_404s_and_503s_the_routes_answer(
    app_without_uploads_or_cluster, method, path, status, body
):
    response = app_without_uploads_or_cluster.request(method, path, body=b"\xff not utf-8")
    assert (response.status_code, json.loads(response.body)) == (status, body)
