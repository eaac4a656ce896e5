"""The local event source mapping as Lambda scales it: how many pollers, and message
attributes in the record form Lambda delivers (which the redelivery reads and writes back)."""

from __future__ import annotations

import pytest

from chalicelib.redelivery import _sqs_attributes
from localdev.poller import _lambda_attributes, concurrent_pollers


@pytest.mark.parametrize(
    ("requested", "maximum", "expected"),
    [(20, None, 20), (20, 3, 3), (1, 3, 1), (0, None, 1), (5, 1000, 5)],
)
def test_pollers_are_capped_by_the_maximum_concurrency(requested, maximum, expected):
    assert concurrent_pollers(requested, maximum) == expected


def test_attributes_arrive_as_lambda_delivers_them_and_go_back_unchanged():
    received = {
        "throttle-redeliveries": {"DataType": "Number", "StringValue": "2"},
        "origin": {"DataType": "String", "StringValue": "backfill"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    record = _lambda_attributes(received)
    assert record["origin"] == {
        "dataType": "String",
        "stringValue": "backfill",
        "stringListValues": [],
        "binaryListValues": [],
    }
    assert record["blob"]["binaryValue"] == "AAE="
    # The redelivery writes them back in SendMessage's form (its own counter it replaces).
    assert _sqs_attributes(record) == {
        "origin": received["origin"],
        "blob": received["blob"],
    }
