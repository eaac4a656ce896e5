import pytest

from chalicelib.api.params import (
    LABELS_PARAMS,
    SEARCH_PARAMS,
    InvalidParameter,
    parse_params,
)


def test_defaults_are_left_to_the_caller():
    assert parse_params(SEARCH_PARAMS, {}).values == {}
    assert parse_params(SEARCH_PARAMS, None).values == {}


def test_values_are_parsed_and_normalised():
    parsed = parse_params(
        SEARCH_PARAMS,
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
    assert parsed.values == {
        "label": ["Dog", "cat", "Bird"],
        "match": "any",
        "expand": False,
        "min_confidence": 80.5,
        "size": 7,
        "since": "2026-11-27T19:00:00.000000Z",
        "q": "hello",
    }


def test_labels_route_uses_prefix_for_label_names_and_key_prefix_for_keys():
    parsed = parse_params(LABELS_PARAMS, {"prefix": ["do"], "key_prefix": ["home/"]})
    assert parsed.values == {"prefix": "do", "key_prefix": "home/"}
    with pytest.raises(InvalidParameter) as raised:
        parse_params(LABELS_PARAMS, {"next": ["x"]})
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
        parse_params(SEARCH_PARAMS, query)
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
        parse_params(SEARCH_PARAMS, {name: [value]})
    assert raised.value.parameter == name


def test_ordinary_unicode_text_is_accepted():
    parsed = parse_params(SEARCH_PARAMS, {"label": ["Café"], "q": ["שלום עולם"]})
    assert parsed.values == {"label": ["Café"], "q": "שלום עולם"}


def test_a_bucket_name_with_a_trailing_newline_is_refused():
    with pytest.raises(InvalidParameter) as raised:
        parse_params(SEARCH_PARAMS, {"bucket": ["photos\n"]})
    assert raised.value.parameter == "bucket"


@pytest.mark.parametrize(
    ("route", "name"), [(SEARCH_PARAMS, "prefix"), (LABELS_PARAMS, "key_prefix")]
)
def test_key_prefixes_are_limited_in_utf8_bytes_on_every_route(route, name):
    assert parse_params(route, {name: ["a" * 512]}).values == {name: "a" * 512}
    assert parse_params(route, {name: ["é" * 256]}).values == {name: "é" * 256}
    for too_long in ("a" * 513, "é" * 257, "😀" * 129):
        with pytest.raises(InvalidParameter, match="at most 512 bytes as UTF-8") as raised:
            parse_params(route, {name: [too_long]})
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
        parse_params(SEARCH_PARAMS, {name: [value]})
    assert raised.value.parameter == name


def test_the_window_edges_themselves_are_accepted_with_four_digit_years():
    parsed = parse_params(
        SEARCH_PARAMS, {"since": ["1970-01-01T00:00:00Z"], "until": ["9999-12-31T23:59:59Z"]}
    )
    assert parsed.values == {
        "since": "1970-01-01T00:00:00.000000Z",
        "until": "9999-12-31T23:59:59.000000Z",
    }
