"""chalicelib.api.http is the one place where errors become statuses; each one is JSON."""

import json

import pytest
from chalice import Chalice
from chalice.test import Client

from chalicelib.api.http import json_api
from chalicelib.api.params import InvalidParameter
from chalicelib.store.base import QueryRejected, StoreUnavailable

ERRORS = {
    "invalid": InvalidParameter("size", "size must be an integer from 1 to 100"),
    "rejected": QueryRejected("RequestError(400, 'search_phase_execution_exception')"),
    "unavailable": StoreUnavailable("ConnectionError: refused"),
}

app = Chalice(app_name="http-errors")


@app.route("/fail/{kind}")
@json_api(app)
def fail(params, kind):
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
