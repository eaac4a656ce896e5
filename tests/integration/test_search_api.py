"""The search API through chalice.test.Client, as API Gateway delivers requests, on the
session's real search node loaded with the contract fixtures."""

import json
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from chalice.test import Client

import app as app_module
from chalicelib.store.elasticsearch_store import ElasticsearchStore
from localdev.chalice_stage import stage_copy
from tests.contract import fixtures

pytestmark = pytest.mark.integration

ALL_LIVE = sorted(image.key for image in fixtures.LIVE)


def stage_config(tmp_path, **variables):
    return stage_copy(
        tmp_path,
        AWS_REGION="us-east-1",
        # Presigning is a local computation; it only needs some credentials.
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="example-secret",
        **variables,
    )


@pytest.fixture(scope="module")
def loaded_alias(search_client):
    alias = "api-fixtures"
    search_client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
    ElasticsearchStore(search_client, alias).write(fixtures.all_writes())
    search_client.indices.refresh(index=alias)
    yield alias
    search_client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)


@pytest.fixture
def api(tmp_path, serve_components, opensearch_url, loaded_alias):
    serve_components()
    project = stage_config(tmp_path, SEARCH_ENDPOINT=opensearch_url, INDEX_ALIAS=loaded_alias)
    with Client(app_module.app, stage_name="dev", project_dir=str(project)) as client:
        yield client.http


def get(api, path):
    response = api.get(path)
    return response.status_code, json.loads(response.body)


def all_keys(api, query):
    """Follow next tokens to the end; return every key in order."""
    keys, token = [], None
    while True:
        status, body = get(api, f"/search?{query}" + (f"&next={token}" if token else ""))
        assert status == 200, body
        keys += [item["key"] for item in body["items"]]
        token = body["next"]
        if token is None:
            return keys


# -- /search -------------------------------------------------------------------------------------


def test_search_by_label_returns_documented_items(api):
    status, body = get(api, "/search?label=Dog")
    assert status == 200
    assert body["total"] == 4 and body["next"] is None
    first = body["items"][0]
    assert set(first) == {"id", "bucket", "key", "url", "labels", "matched", "indexed_at"}
    assert first["key"] == "parks/dog-park.jpg"
    assert first["id"] == fixtures.image_id(fixtures.IMAGES[0])
    assert first["labels"] == [
        {"name": "Dog", "confidence": 95.5},
        {"name": "Grass", "confidence": 80.25},
    ]
    assert first["matched"] == ["Dog"]
    assert first["indexed_at"] == "2026-11-02T00:00:00.000000Z"
    url = urlsplit(first["url"])
    presigned = parse_qs(url.query)
    assert url.path.endswith("/parks/dog-park.jpg")
    assert presigned["X-Amz-Expires"] == ["900"] and "X-Amz-Signature" in presigned


def test_repeated_and_comma_separated_labels_are_equivalent(api):
    repeated = all_keys(api, "label=dog&label=cat&match=any")
    assert repeated == all_keys(api, "label=dog,cat&match=any")
    assert len(repeated) == 5
    assert all_keys(api, "label=dog&label=cat") == ["home/mixed.jpg"]


def test_expansion_confidence_and_free_text(api):
    assert len(all_keys(api, "label=animal")) == 5
    assert all_keys(api, "label=animal&expand=false") == []
    assert all_keys(api, "label=dog&min_confidence=80") == [
        "parks/dog-park.jpg",
        "parks/puppy.png",
        "beach/dog.jpg",
    ]
    assert all_keys(api, "q=cofee") == ["kitchen/coffee.jpg"]
    _, body = get(api, "/search?label=animal&min_confidence=93")
    assert [item["matched"] for item in body["items"]] == [["Cat"], ["Dog"]]


def test_filters_and_sorting(api):
    assert all_keys(api, "bucket=holiday-photos") == ["beach/dog.jpg"]
    assert sorted(all_keys(api, f"prefix={quote('parks/')}")) == [
        "parks/dog-park.jpg",
        "parks/puppy.png",
    ]
    # Indexed on BASE_TIME (Nov 1) + day: the window holds days 3, 4 and 5.
    window = "since=2026-11-04T00:00:00Z&until=2026-11-07T00:00:00Z"
    assert sorted(all_keys(api, window)) == sorted(
        image.key for image in fixtures.LIVE if image.day in (3, 4, 5)
    )
    newest = [image.key for image in sorted(fixtures.LIVE, key=lambda image: -image.day)]
    assert all_keys(api, "sort=newest") == newest


@pytest.mark.parametrize("sort", ["relevance", "confidence", "newest"])
def test_paging_with_size_3_returns_every_image_once(api, sort):
    keys = all_keys(api, f"size=3&sort={sort}")
    assert sorted(keys) == ALL_LIVE and len(keys) == len(set(keys))


def test_a_next_token_only_works_for_its_own_query(api):
    _, first = get(api, "/search?size=2")
    status, body = get(api, f"/search?size=2&label=dog&next={first['next']}")
    assert status == 400
    assert body["parameter"] == "next" and "different query" in body["error"]


@pytest.mark.parametrize(
    "query",
    ["label=*", "label=" + quote("label:dog OR 1=1"), "q=" + quote('{"query":{"match_all":{}}}')],
)
def test_injection_strings_match_literally(api, query):
    status, body = get(api, f"/search?{query}")
    assert (status, body["total"], body["items"]) == (200, 0, [])


@pytest.mark.parametrize(
    ("query", "parameter", "says"),
    [
        ("size=0", "size", "from 1 to 100"),
        ("size=101", "size", "from 1 to 100"),
        ("size=ten", "size", "an integer"),
        ("min_confidence=101", "min_confidence", "from 0 to 100"),
        ("min_confidence=-1", "min_confidence", "from 0 to 100"),
        ("min_confidence=nan", "min_confidence", "from 0 to 100"),
        ("match=some", "match", "all, any"),
        ("sort=random", "sort", "relevance, confidence, newest"),
        ("expand=maybe", "expand", "true, false"),
        ("time=later", "time", "indexed, event"),
        ("since=yesterday", "since", "ISO-8601"),
        ("since=2026-11-05T00:00:00Z&until=2026-11-01T00:00:00Z", "until", "later than since"),
        ("bucket=Not_A_Bucket", "bucket", "valid S3 bucket name"),
        ("label=", "label", "must not be empty"),
        ("label=" + "x" * 101, "label", "at most 100 characters"),
        ("label=" + ",".join(f"l{n}" for n in range(11)), "label", "at most 10"),
        ("q=" + "x" * 201, "q", "at most 200 characters"),
        ("label=dog%00", "label", "control, bidirectional-formatting or surrogate"),
        ("label=dog%C2%85", "label", "found U+0085"),
        ("q=gpj%E2%80%AEexe", "q", "found U+202E"),
        ("prefix=" + "%C3%A9" * 257, "prefix", "at most 512 bytes as UTF-8"),
        ("since=0001-01-01T00:00:00%2B01:00", "since", "from 1970-01-01T00:00:00Z"),
        ("lable=dog", "lable", "unknown parameter"),
        ("size=1&size=2", "size", "only once"),
        ("next=not-a-token", "next", "not a next token of this API"),
    ],
)
def test_invalid_parameters_get_a_400_naming_the_parameter(api, query, parameter, says):
    response = api.get(f"/search?{query}")
    body = json.loads(response.body)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert body["parameter"] == parameter
    assert says in body["error"]


# -- /labels, /images, /health -------------------------------------------------------------------


def test_labels_counts_with_prefix_and_filters(api):
    status, body = get(api, "/labels?prefix=d")
    assert status == 200
    assert body == {"labels": [{"name": "Dog", "count": 4}, {"name": "Drink", "count": 1}]}
    _, home = get(api, "/labels?key_prefix=home/&size=2")
    assert home == {"labels": [{"name": "Animal", "count": 2}, {"name": "Cat", "count": 2}]}
    status, body = get(api, "/labels?sort=newest")
    assert (status, body["parameter"]) == (400, "sort")


def test_image_by_id(api):
    image = fixtures.IMAGES[0]
    status, body = get(api, f"/images/{fixtures.image_id(image)}")
    assert status == 200
    assert body["id"] == fixtures.image_id(image)
    assert body["document"]["key"] == image.key and "X-Amz-Signature" in body["url"]
    assert get(api, f"/images/{'0' * 64}") == (
        404,
        {"error": f"no image with id {'0' * 64}", "parameter": "id"},
    )
    status, body = get(api, "/images/not-an-id")
    assert (status, body["parameter"]) == (400, "id")
    deleted = next(image for image in fixtures.IMAGES if image.deleted)
    assert get(api, f"/images/{fixtures.image_id(deleted)}")[0] == 404


def test_health(api):
    assert get(api, "/health") == (200, {"status": "ok"})


def test_plain_object_urls_when_presigning_is_off(
    tmp_path, serve_components, opensearch_url, loaded_alias
):
    serve_components()
    project = stage_config(
        tmp_path, SEARCH_ENDPOINT=opensearch_url, INDEX_ALIAS=loaded_alias, PRESIGN_URLS="false"
    )
    with Client(app_module.app, stage_name="dev", project_dir=str(project)) as client:
        _, body = get(client.http, "/search?label=rocket")
    assert body["items"][0]["url"] == "https://s3.us-east-1.amazonaws.com/photos/space/rocket.png"


@pytest.mark.parametrize("path", ["/search?label=dog", "/labels", f"/images/{'a' * 64}", "/health"])
def test_an_unreachable_cluster_is_a_503_not_a_stack_trace(tmp_path, serve_components, path):
    serve_components()
    project = stage_config(
        tmp_path, SEARCH_ENDPOINT="http://127.0.0.1:9", SEARCH_TIMEOUT_SECONDS="1"
    )
    with Client(app_module.app, stage_name="dev", project_dir=str(project)) as client:
        response = client.http.get(path)
    assert response.status_code == 503
    assert "unavailable" in json.loads(response.body)["error"]
