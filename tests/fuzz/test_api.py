"""Every route's parameters, cursors and upload bodies, fuzzed on both stores at once.

Each generated request goes to the embedded store's stage and to the OpenSearch stage, both
holding the contract fixtures, and must get the same answer from both: the limits are the
API's, not a store's. Asserted for every case: no 5xx; every answer a JSON object; every error
a 400 or 404 whose ``parameter`` names something the request sent (or the route's path or
body); 200s shaped as documented.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.api.params import MAX_PAGE_SIZE
from chalicelib.search import cursor
from tests.contract import fixtures
from tests.fuzz import strategies as fuzz
from tests.fuzz.conftest import RECORDER, cases
from tests.fuzz.harness import CURSOR_SECRET, Answer, Lambda, stage_components, stage_settings

pytestmark = pytest.mark.integration

UPLOAD_FIELDS = {"body", "content_type", "filename"}
ITEM_FIELDS = {"id", "bucket", "key", "url", "labels", "matched", "indexed_at"}
KEY = cursor.signing_key(CURSOR_SECRET)


@pytest.fixture(scope="module")
def stages(tmp_path_factory, opensearch_url, search_client):
    """name -> the API of a stage on that store, both loaded with the contract fixtures."""
    sqlite = Lambda(
        stage_components(stage_settings(sqlite_path=str(tmp_path_factory.mktemp("fuzz") / "db")))
    )
    alias = f"fuzz-api-{uuid.uuid4().hex[:8]}"
    opensearch = Lambda(
        stage_components(stage_settings(search_endpoint=opensearch_url, index_alias=alias))
    )
    for stage in (sqlite, opensearch):
        assert {r.status for r in stage.components.store.write(fixtures.all_writes())} == {
            "written",
            "stale",
        }
    search_client.indices.refresh(index=alias)
    yield {"sqlite": sqlite, "opensearch": opensearch}
    search_client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
    search_client.indices.delete_template(name=alias, ignore=[404])


# -- what every answer must be -----------------------------------------------------------------


def checked(answer: Answer, may_name: set[str]) -> str:
    """Asserts the answer is a documented one; returns its outcome for the summary."""
    assert answer.status in (200, 400, 404), answer
    assert answer.is_json_object, answer
    if answer.status == 200:
        return "200"
    assert set(answer.body) == {"error", "parameter"}, answer.body
    assert isinstance(answer.body["error"], str) and answer.body["error"], answer.body
    assert answer.body["parameter"] in may_name, (answer.body, may_name)
    return f"{answer.status} {_printable(answer.body['parameter'])}"


def _printable(name: str) -> str:
    known = {"label", "match", "expand", "min_confidence", "q", "bucket", "since", "until"}
    known |= {"time", "prefix", "key_prefix", "sort", "size", "next", "id"} | UPLOAD_FIELDS
    return name if name in known else "(unknown parameter)"


def search_shape(body: dict) -> None:
    assert set(body) == {"total", "total_is_exact", "items", "next"}, body
    assert isinstance(body["total"], int) and body["total"] >= len(body["items"])
    assert isinstance(body["total_is_exact"], bool)
    assert len(body["items"]) <= MAX_PAGE_SIZE
    for item in body["items"]:
        assert set(item) == ITEM_FIELDS, item
    assert body["next"] is None or isinstance(body["next"], str)


def comparable(body: dict) -> dict:
    """A 200 body without what legitimately differs per call (presigned URLs carry a time)."""
    if "items" in body:
        return {**body, "items": [{**item, "url": None} for item in body["items"]]}
    if "url" in body and "document" in body:  # GET /images/{id}
        return {**body, "url": None}
    return body


def both(stages, method, resource, **request) -> Answer:
    """The request on both stages; they must answer alike. Returns the embedded store's."""
    first = stages["sqlite"].http(method, resource, **request)
    second = stages["opensearch"].http(method, resource, **request)
    assert first.status == second.status, (request, first, second)
    if first.status == 200 and first.is_json_object:
        assert comparable(first.body) == comparable(second.body), (request, first, second)
    else:
        assert first.body == second.body, (request, first, second)
    return first


# -- /search and /labels -----------------------------------------------------------------------


@settings(max_examples=cases(1200))
@given(query=fuzz.query(fuzz.SEARCH_VALUES, fuzz.VALID_SEARCH_VALUES))
def test_search_parameters(stages, query):
    answer = both(stages, "GET", "/search", query=query)
    outcome = checked(answer, set(query))
    if answer.status == 200:
        search_shape(answer.body)
    RECORDER.case("test_search_parameters", outcome)


@settings(max_examples=cases(900))
@given(query=fuzz.query(fuzz.LABELS_VALUES, fuzz.VALID_LABELS_VALUES))
def test_labels_parameters(stages, query):
    answer = both(stages, "GET", "/labels", query=query)
    outcome = checked(answer, set(query))
    if answer.status == 200:
        assert set(answer.body) == {"labels"}
        counts = answer.body["labels"]
        assert all(set(c) == {"name", "count"} and c["count"] > 0 for c in counts), counts
    RECORDER.case("test_labels_parameters", outcome)


# -- /images/{id}, /health and query parameters where none are allowed -------------------------


@settings(max_examples=cases(500))
@given(
    image_id=fuzz.image_ids,
    query=st.one_of(st.none(), fuzz.query({"id": fuzz.mixed_text, "x": fuzz.mixed_text})),
)
def test_image_ids_and_routes_without_parameters(stages, image_id, query):
    answer = both(
        stages, "GET", "/images/{image_id}", path_parameters={"image_id": image_id}, query=query
    )
    outcome = checked(answer, {"id", *(query or {})})
    if answer.status == 200:
        assert answer.body["document"]["image_id"] == image_id
    health = both(stages, "GET", "/health", query=query)
    checked(health, set(query or {}))
    assert (health.status == 200) == (not query), health
    RECORDER.case(
        "test_image_ids_and_routes_without_parameters", outcome, f"health {health.status}"
    )


# -- POST /uploads ---------------------------------------------------------------------------------


@settings(max_examples=cases(600))
@given(body=fuzz.upload_bodies)
def test_upload_bodies(stages, body):
    # The store plays no part in an upload form: one stage is enough.
    answer = stages["sqlite"].http("POST", "/uploads", body=body)
    outcome = checked(answer, UPLOAD_FIELDS)
    if answer.status == 200:
        assert answer.body["bucket"] == "photos" and answer.body["key"].startswith("uploads/")
        assert answer.body["key"].endswith((".jpg", ".png")) and ".." not in answer.body["key"]
    RECORDER.case("test_upload_bodies", outcome)


# -- next tokens ---------------------------------------------------------------------------------

# Queries with a second page on the fixtures (at least five matches, at most three per page),
# so that a real token exists to tamper with.
paged = st.builds(
    lambda sort, size, labels: {"sort": [sort], "size": [str(size)], **labels},
    st.sampled_from(["relevance", "confidence", "newest"]),
    st.integers(1, 3),
    st.sampled_from([{}, {"label": ["animal"]}, {"label": ["dog,cat"], "match": ["any"]}]),
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign(payload: bytes) -> str:
    """A validly signed token around any payload: what only a leaked key would allow."""
    return f"{b64(payload)}.{b64(hmac.new(KEY, payload, hashlib.sha256).digest())}"


sort_values = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 5, max_value=2**70),
    st.floats(),  # NaN and infinities included
    st.text(max_size=70),
    st.sampled_from(["f" * 64, "0" * 64, "F" * 64]),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def tokens(draw, real: str) -> str:
    """A next token derived from ``real`` (one the API issued for the query): tampered with,
    forged with a valid signature over hostile values, or unsigned."""
    payload_text, _ = real.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_text + "=" * (-len(payload_text) % 4)))
    kind = draw(st.sampled_from(["tamper", "forge", "forge-raw", "unsigned", "swap", "junk"]))
    if kind == "tamper":
        position = draw(st.integers(0, len(real) - 1))
        replacement = draw(st.sampled_from("AZaz09-_.=+/ \x85"))
        return real[:position] + replacement + real[position + 1 :]
    if kind == "forge":
        after = draw(st.lists(sort_values, max_size=4))
        if draw(st.booleans()) and payload["after"]:
            # One column changed at a time: arity right, one type or range wrong.
            after = list(payload["after"])
            after[draw(st.integers(0, len(after) - 1))] = draw(sort_values)
        forged = {**payload, "after": after}
        if draw(st.integers(0, 5)) == 0:
            forged["q"] = draw(st.text(max_size=20))
        if draw(st.integers(0, 5)) == 0:
            forged["v"] = draw(st.one_of(st.integers(), st.booleans(), st.text(max_size=3)))
        return sign(json.dumps(forged, allow_nan=True).encode())
    if kind == "forge-raw":
        return sign(
            draw(
                st.one_of(
                    st.binary(max_size=60), fuzz.json_values.map(lambda v: json.dumps(v).encode())
                )
            )
        )
    if kind == "unsigned":
        return b64(
            json.dumps(
                {"q": payload["q"], "after": draw(st.lists(sort_values, max_size=3))}
            ).encode()
        )
    if kind == "swap":
        return f"{payload_text}.{draw(st.from_regex(r'[A-Za-z0-9_-]{43}', fullmatch=True))}"
    return draw(fuzz.opaque_tokens)


@settings(max_examples=cases(800))
@given(data=st.data(), params=paged)
def test_forged_and_tampered_next_tokens_are_400s_naming_next(stages, data, params):
    first = stages["sqlite"].http("GET", "/search", query=params)
    assert first.status == 200 and first.body["next"], first
    token = data.draw(tokens(first.body["next"]), label="token")
    answer = both(stages, "GET", "/search", query={**params, "next": [token]})
    outcome = checked(answer, {"next"})
    if answer.status == 200:
        # Only a token the key signed over values that fit the sort gets through.
        search_shape(answer.body)
    RECORDER.case("test_forged_and_tampered_next_tokens_are_400s_naming_next", outcome)


@settings(max_examples=cases(300))
@given(
    params=st.fixed_dictionaries(
        {
            "sort": st.sampled_from(["relevance", "confidence", "newest"]).map(lambda s: [s]),
            "size": st.integers(1, 4).map(lambda n: [str(n)]),
        },
        optional={
            "label": st.lists(st.sampled_from(fuzz.LABEL_NAMES), min_size=1, max_size=3).map(
                lambda names: [",".join(names)]
            ),
            "match": st.sampled_from([["all"], ["any"]]),
            "expand": st.sampled_from([["true"], ["false"]]),
            "min_confidence": st.integers(0, 100).map(lambda n: [str(n)]),
            "q": st.sampled_from([["dog"], ["cofee"], ["open daily"], ["animal"]]),
            "prefix": st.sampled_from([["parks/"], ["home/"], ["p"]]),
            "since": st.sampled_from([["2026-11-04T00:00:00Z"], ["2026-11-07T00:00+01:00"]]),
        },
    )
)
def test_paging_returns_every_match_once_and_alike_on_both_stores(stages, params):
    keys, token, total, pages = [], None, None, 0
    while True:
        query = {**params, **({"next": [token]} if token else {})}
        answer = both(stages, "GET", "/search", query=query)
        assert answer.status == 200, answer
        total = answer.body["total"] if total is None else total
        keys += [item["key"] for item in answer.body["items"]]
        token, pages = answer.body["next"], pages + 1
        if token is None:
            break
    assert len(keys) == len(set(keys)) == total, (params, keys, total)
    RECORDER.case("test_paging_returns_every_match_once_and_alike_on_both_stores", f"{pages} pages")
