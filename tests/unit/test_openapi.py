"""openapi.json is generated from the routes and the parameter table; it must be current."""

import app as app_module
from localdev import openapi


def test_checked_in_openapi_matches_the_code():
    assert openapi.SPEC_PATH.read_text() == openapi.render(app_module.app), (
        "openapi.json is out of date: run `make openapi`"
    )


def test_every_route_and_query_parameter_is_described():
    spec = openapi.build_spec(app_module.app)
    assert sorted(spec["paths"]) == [
        "/gallery",
        "/health",
        "/images/{image_id}",
        "/labels",
        "/search",
        "/uploads",
    ]
    search = spec["paths"]["/search"]["get"]
    names = [parameter["name"] for parameter in search["parameters"]]
    assert names == [
        "label", "match", "expand", "min_confidence", "q", "bucket", "since", "until", "time",
        "prefix", "sort", "size", "next",
    ]  # fmt: skip
    size = next(p for p in search["parameters"] if p["name"] == "size")
    assert size["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    label = search["parameters"][0]
    assert label["schema"]["type"] == "array" and label["explode"] is True
    assert set(search["responses"]) == {"200", "400", "503"}
    assert "404" in spec["paths"]["/images/{image_id}"]["get"]["responses"]
