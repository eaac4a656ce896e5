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
