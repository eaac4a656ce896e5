"""next tokens: signed, bound to their query, and typed per sort column before any store sees
them. Property-based forging and tampering through the API is in tests/fuzz."""

import base64
import hashlib
import hmac
import json

import pytest

from chalicelib.search import cursor
from chalicelib.search.query import Filters, SearchQuery

KEY = cursor.signing_key("a stage secret of at least 32 chars")
CODEC = cursor.CursorCodec(KEY)
IMAGE = "ab" * 32
NEWEST = SearchQuery(Filters(labels=("dog",)), sort="newest", size=3)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed(payload, key=KEY) -> str:
    """A token with a valid signature over any payload: what a leaked key would allow."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{b64(raw)}.{b64(hmac.new(key, raw, hashlib.sha256).digest())}"


def test_a_token_round_trips_for_the_same_query_only():
    token = CODEC.encode(NEWEST, (1795809600000, IMAGE))
    # The page size may change between pages; the filters and the sort may not.
    assert CODEC.decode(SearchQuery(Filters(labels=("dog",)), "newest", 50), token) == (
        1795809600000,
        IMAGE,
    )
    with pytest.raises(cursor.InvalidCursor, match="different query"):
        CODEC.decode(SearchQuery(Filters(labels=("cat",)), "newest", 3), token)
    with pytest.raises(cursor.InvalidCursor, match="different query"):
        CODEC.decode(SearchQuery(Filters(labels=("dog",)), "relevance", 3), token)


def test_a_token_of_another_stage_key_or_an_altered_one_is_refused():
    token = CODEC.encode(NEWEST, (1795809600000, IMAGE))
    other_stage = cursor.CursorCodec(cursor.signing_key("another stage's secret, also long"))
    with pytest.raises(cursor.InvalidCursor, match="not issued by this API or was altered"):
        other_stage.decode(NEWEST, token)
    payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["after"][0] = 1
    with pytest.raises(cursor.InvalidCursor, match="not issued by this API or was altered"):
        CODEC.decode(NEWEST, f"{b64(json.dumps(forged).encode())}.{signature}")


def test_the_old_unsigned_format_is_refused():
    # What the API issued before tokens were signed: base64 JSON with an unkeyed fingerprint.
    unsigned = b64(json.dumps({"q": cursor.fingerprint(NEWEST), "after": [1, IMAGE]}).encode())
    with pytest.raises(cursor.InvalidCursor, match="not a next token"):
        CODEC.decode(NEWEST, unsigned)


@pytest.mark.parametrize(
    ("after", "says"),
    [
        ([1795809600000], "does not hold the 2 values of sort=newest"),
        ([1795809600000, IMAGE, 3], "does not hold the 2 values"),
        ({"a": 1}, "does not hold the 2 values"),
        ([True, IMAGE], "indexed_at is not epoch milliseconds"),
        ([1.5, IMAGE], "indexed_at is not epoch milliseconds"),
        ([2**64, IMAGE], "indexed_at is not epoch milliseconds"),
        ([-1, IMAGE], "indexed_at is not epoch milliseconds"),
        (["2026-11-27T20:00:00Z", IMAGE], "indexed_at is not epoch milliseconds"),
        ([1795809600000, "AB" * 32], "image_id is not an image id"),
        ([1795809600000, 7], "image_id is not an image id"),
    ],
)
def test_signed_values_that_do_not_fit_the_sort_are_refused(after, says):
    token = signed({"v": 1, "q": cursor.fingerprint(NEWEST), "after": after})
    with pytest.raises(cursor.InvalidCursor, match=says):
        CODEC.decode(NEWEST, token)


@pytest.mark.parametrize(
    ("value", "fits"),
    [(0, True), (1100.0, True), (95.5, True), (1100.5, False), (-0.5, False), (True, False)],
)
def test_scores_are_finite_numbers_within_the_possible_range(value, fits):
    query = SearchQuery(sort="relevance")
    token = signed({"v": 1, "q": cursor.fingerprint(query), "after": [value, 0, IMAGE]})
    if fits:
        assert CODEC.decode(query, token) == (value, 0, IMAGE)
    else:
        with pytest.raises(cursor.InvalidCursor, match="score is not a number from 0 to 1100"):
            CODEC.decode(query, token)


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(constant):
    query = SearchQuery(sort="confidence")
    payload = b'{"v":1,"q":"' + cursor.fingerprint(query).encode() + b'","after":['
    with pytest.raises(cursor.InvalidCursor, match="not a next token"):
        CODEC.decode(query, signed(payload + constant + b',0,"' + IMAGE.encode() + b'"]}'))


@pytest.mark.parametrize(
    "token",
    ["", "!!!", "e30", "x" * 3000, "eyJxIjoiYSIsImFmdGVyIjpbe31dfQ", "a.b.c", "a.", ".b", "ab=.cd"],
)
def test_garbage_is_rejected(token):
    with pytest.raises(cursor.InvalidCursor):
        CODEC.decode(SearchQuery(), token)


def test_a_signed_token_of_another_format_version_is_refused():
    token = signed({"v": 2, "q": cursor.fingerprint(NEWEST), "after": [1, IMAGE]})
    with pytest.raises(cursor.InvalidCursor, match="older format"):
        CODEC.decode(NEWEST, token)


def test_a_store_sort_key_that_does_not_fit_is_a_bug_not_a_token():
    with pytest.raises(ValueError, match="unusable sort key") as raised:
        CODEC.encode(NEWEST, ("2026-11-27T20:00:00.000", IMAGE))
    assert not isinstance(raised.value, cursor.InvalidCursor)


def test_the_key_is_derived_per_secret():
    assert cursor.signing_key("one secret, thirty-two characters") != cursor.signing_key(
        "two secret, thirty-two characters"
    )
    assert cursor.signing_key(None) == cursor.signing_key(cursor.DEVELOPMENT_SECRET)
