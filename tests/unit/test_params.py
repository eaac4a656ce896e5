import dataclasses

import pytest

from chalicelib.api.params import (
    LABELS_PARAMETERS,
    NO_PARAMETERS,
    SEARCH_PARAMETERS,
    InvalidParameter,
    LabelsRequest,
    Param,
    ParameterTable,
    SearchRequest,
)

SEARCH_DEFAULTS = SearchRequest(
    labels=(),
    match="all",
    expand=True,
    min_confidence=None,  # the stage's DEFAULT_MIN_CONFIDENCE, filled in by the search service
    text=None,
    bucket=None,
    since=None,
    until=None,
    time_field="indexed",
    key_prefix=None,
    sort="relevance",
    size=20,
    next_token=None,
)


def given(table, request):
    """The fields of ``request`` that differ from what an empty query gives."""
    defaults = dataclasses.asdict(table.parse({}))
    return {k: v for k, v in dataclasses.asdict(request).items() if defaults[k] != v}


def test_absent_parameters_take_the_defaults_of_the_one_table():
    assert SEARCH_PARAMETERS.parse({}) == SEARCH_DEFAULTS
    assert SEARCH_PARAMETERS.parse(None) == SEARCH_DEFAULTS
    labels = LABELS_PARAMETERS.parse({})
    assert isinstance(labels, LabelsRequest)
    assert (labels.labels, labels.size, labels.label_prefix, labels.key_prefix) == (
        (),
        20,
        None,
        None,
    )
    for table in (SEARCH_PARAMETERS, LABELS_PARAMETERS):
        parsed = table.parse({})
        assert {p.field: p.default for p in table.params} == dataclasses.asdict(parsed)


def test_request_objects_are_frozen():
    request = SEARCH_PARAMETERS.parse({"size": ["5"]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.size = 6
    with pytest.raises(dataclasses.FrozenInstanceError):
        LABELS_PARAMETERS.parse({}).label_prefix = "do"


def test_request_fields_have_no_defaults_of_their_own():
    for request_type in (SearchRequest, LabelsRequest):
        for field in dataclasses.fields(request_type):
            assert field.default is dataclasses.MISSING, field.name
            assert field.default_factory is dataclasses.MISSING, field.name


def test_the_documented_default_is_the_tables_default():
    size = next(p for p in SEARCH_PARAMETERS.params if p.name == "size")
    assert size.openapi_schema["default"] == size.default == 20
    label = next(p for p in SEARCH_PARAMETERS.params if p.name == "label")
    assert "default" not in label.openapi_schema  # repeatable: absent means no labels


def test_a_table_must_fill_every_field_of_its_request():
    with pytest.raises(TypeError, match="LabelsRequest"):
        ParameterTable(LabelsRequest, SEARCH_PARAMETERS.params)
    with pytest.raises(TypeError):
        ParameterTable(
            SearchRequest, (*SEARCH_PARAMETERS.params, Param("x", "x", "", {}, lambda n, r: r))
        )


def test_routes_without_parameters_refuse_any():
    assert NO_PARAMETERS.parse({}) == NO_PARAMETERS.parse(None)
    with pytest.raises(InvalidParameter) as raised:
        NO_PARAMETERS.parse({"x": ["1"]})
    assert raised.value.parameter == "x"


def test_values_are_parsed_and_normalised():
    parsed = SEARCH_PARAMETERS.parse(
        {
            "label": ["Dog, cat", "Bird"],
            "match": ["ANY"],
            "expand": ["false"],
            "min_confidence": ["80.5"],
            "size": ["7"],
            "since": ["2026-11-27T20:00:00+01:00"],
            "q": ["  hello  "],
        },
    )
    assert given(SEARCH_PARAMETERS, parsed) == {
        "labels": ("Dog", "cat", "Bird"),
        "match": "any",
        "expand": False,
        "min_confidence": 80.5,
        "size": 7,
        "since": "2026-11-27T19:00:00.000000Z",
        "text": "hello",
    }


def test_labels_route_uses_prefix_for_label_names_and_key_prefix_for_keys():
    parsed = LABELS_PARAMETERS.parse({"prefix": ["do"], "key_prefix": ["home/"]})
    assert given(LABELS_PARAMETERS, parsed) == {"label_prefix": "do", "key_prefix": "home/"}
    with pytest.raises(InvalidParameter) as raised:
        LABELS_PARAMETERS.parse({"next": ["x"]})
    assert raised.value.parameter == "next"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"size": ["1.5"]}, "size"),
        ({"min_confidence": ["inf"]}, "min_confidence"),
        ({"label": [" , "]}, "label"),
        ({"label": ["a\nb"]}, "label"),
        ({"q": ["\x7f"]}, "q"),
        ({"bucket": ["ab"]}, "bucket"),
        ({"bucket": ["-photos"]}, "bucket"),
        ({"until": ["2026-01-01"], "since": ["2026-01-01"]}, "until"),
    ],
)
def test_invalid_values_name_their_parameter(query, parameter):
    with pytest.raises(InvalidParameter) as raised:
        SEARCH_PARAMETERS.parse(query)
    assert raised.value.parameter == parameter


@pytest.mark.parametrize(
    "value",
    [
        "dog\u0085",  # NEL, a C1 control that str.strip() would quietly drop
        "\u009bdog",  # CSI
        "dog\u202ecat",  # right-to-left override
        "dog\u2066cat",  # left-to-right isolate
        "\u200fdog",  # right-to-left mark
        "dog\u2028cat",  # line separator
        "dog\ud800",  # a lone surrogate (a JSON \ud800 escape in the Lambda event)
        "dog\x1f",
    ],
)
@pytest.mark.parametrize("name", ["label", "q", "prefix", "next"])
def test_control_bidi_and_surrogate_characters_are_refused_anywhere(name, value):
    with pytest.raises(InvalidParameter, match=r"found U\+") as raised:
        SEARCH_PARAMETERS.parse({name: [value]})
    assert raised.value.parameter == name


def test_ordinary_unicode_text_is_accepted():
    parsed = SEARCH_PARAMETERS.parse({"label": ["Café"], "q": ["שלום עולם"]})
    assert given(SEARCH_PARAMETERS, parsed) == {"labels": ("Café",), "text": "שלום עולם"}


def test_a_bucket_name_with_a_trailing_newline_is_refused():
    with pytest.raises(InvalidParameter) as raised:
        SEARCH_PARAMETERS.parse({"bucket": ["photos\n"]})
    assert raised.value.parameter == "bucket"


@pytest.mark.parametrize(
    ("route", "name"), [(SEARCH_PARAMETERS, "prefix"), (LABELS_PARAMETERS, "key_prefix")]
)
def test_key_prefixes_are_limited_in_utf8_bytes_on_every_route(route, name):
    assert given(route, route.parse({name: ["a" * 512]})) == {"key_prefix": "a" * 512}
    assert given(route, route.parse({name: ["é" * 256]})) == {"key_prefix": "é" * 256}
    for too_long in ("a" * 513, "é" * 257, "😀" * 129):
        with pytest.raises(InvalidParameter, match="at most 512 bytes as UTF-8") as raised:
            route.parse({name: [too_long]})
        assert raised.value.parameter == name


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # OverflowError inside datetime before the fix
        "9999-12-31T23:59:59-01:00",
        "0999-06-01T00:00:00Z",  # would be written "999-..." and compared wrongly as text
        "1969-12-31T23:59:59Z",
    ],
)
@pytest.mark.parametrize("name", ["since", "until"])
def test_times_at_the_calendar_edges_are_400s_naming_the_parameter(name, value):
    with pytest.raises(InvalidParameter, match="from 1970-01-01T00:00:00Z to 9999") as raised:
        SEARCH_PARAMETERS.parse({name: [value]})
    assert raised.value.parameter == name


def test_the_window_edges_themselves_are_accepted_with_four_digit_years():
    parsed = SEARCH_PARAMETERS.parse(
        {"since": ["1970-01-01T00:00:00Z"], "until": ["9999-12-31T23:59:59Z"]}
    )
    assert given(SEARCH_PARAMETERS, parsed) == {
        "since": "1970-01-01T00:00:00.000000Z",
        "until": "9999-12-31T23:59:59.000000Z",
    }


def test_parameters_given_at_their_default_values_parse_to_the_defaults():
    explicit = {"match": ["all"], "expand": ["true"], "sort": ["relevance"], "size": ["20"]}
    assert SEARCH_PARAMETERS.parse(explicit) == SEARCH_DEFAULTS
    assert SEARCH_PARAMETERS.parse({"time": ["indexed"]}) == SEARCH_DEFAULTS
