"""Signed, typed ``next`` tokens for cursor pagination.

A token is ``<payload>.<signature>``, both base64url without padding. The payload is compact
JSON ``{"v": 1, "q": <fingerprint>, "after": [...]}``: the sort key of the last item of a page
(search_after) and a fingerprint of the query that produced it, so a token cannot be replayed
against a different query. The signature is HMAC-SHA256 over the payload with a key derived
from the stage's CURSOR_SECRET, so nobody can forge or alter a token: a caller who edits one
gets a 400 naming ``next`` instead of reaching the store with values of their choosing.

The signature alone would make the values trustworthy; they are still checked against the
sort's columns (arity, and each column's type and range) before they reach a store, so a
leaked key or a token from an older format can never become a store error (a 500).

Both stores give and take the same sort key, column by column (see SORT_COLUMNS).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from chalicelib.search.query import (
    MAX_SCORE,
    SORT_CONFIDENCE,
    SORT_NEWEST,
    SORT_RELEVANCE,
    SearchQuery,
)
from chalicelib.timestamps import LATEST_EPOCH_MILLIS

MAX_TOKEN_LENGTH = 2048
TOKEN_VERSION = 1

# Used only where no CURSOR_SECRET is set, which Settings allows outside Lambda only: tokens
# of local runs are then forgeable by anyone who reads this line, which harms nobody there.
DEVELOPMENT_SECRET = "image-label-search: local development only, never a deployed stage"
# Domain separation: the key signs next tokens and nothing else, whatever else the secret does.
_KEY_PURPOSE = b"image-label-search/next-token/v1"

_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_IMAGE_ID = re.compile(r"[0-9a-f]{64}")

NOT_A_TOKEN = "the token is not a next token of this API; repeat the search without next"


class InvalidCursor(ValueError):
    """The token is not one this API issued for this query."""


def signing_key(secret: str | None) -> bytes:
    """The HMAC key for next tokens, derived from the stage's secret."""
    material = (secret or DEVELOPMENT_SECRET).encode("utf-8")
    return hmac.new(material, _KEY_PURPOSE, hashlib.sha256).digest()


# -- the sort key's columns ----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    describe: str  # for error messages: what a value of this column is
    check: Callable[[Any], bool]


def _number(low: float, high: float) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        # bool is an int in Python; JSON true is never a score.
        return type(value) in (int, float) and math.isfinite(value) and low <= value <= high

    return check


def _epoch_millis(value: Any) -> bool:
    return type(value) is int and 0 <= value <= LATEST_EPOCH_MILLIS


def _image_id(value: Any) -> bool:
    return isinstance(value, str) and _IMAGE_ID.fullmatch(value) is not None


INDEXED_AT = Column("indexed_at", "epoch milliseconds", _epoch_millis)
IMAGE_ID = Column("image_id", "an image id", _image_id)
SORT_COLUMNS: dict[str, tuple[Column, ...]] = {
    SORT_RELEVANCE: (
        Column("score", f"a number from 0 to {MAX_SCORE:g}", _number(0, MAX_SCORE)),
        INDEXED_AT,
        IMAGE_ID,
    ),
    SORT_CONFIDENCE: (
        Column("confidence", "a number from 0 to 100", _number(0, 100)),
        INDEXED_AT,
        IMAGE_ID,
    ),
    SORT_NEWEST: (INDEXED_AT, IMAGE_ID),
}


def check_sort_key(sort: str, values: Any) -> tuple[Any, ...]:
    """``values`` as a sort key of ``sort``; raises InvalidCursor naming the first misfit."""
    columns = SORT_COLUMNS[sort]
    if not isinstance(values, list | tuple) or len(values) != len(columns):
        raise InvalidCursor(f"the token does not hold the {len(columns)} values of sort={sort}")
    for column, value in zip(columns, values, strict=True):
        if not column.check(value):
            raise InvalidCursor(f"the token's {column.name} is not {column.describe}")
    return tuple(values)


def fingerprint(query: SearchQuery) -> str:
    """What a token is bound to: the filters and the sort, not the page size."""
    shape = {"filters": asdict(query.filters), "sort": query.sort}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


# -- tokens --------------------------------------------------------------------------------------


class CursorCodec:
    def __init__(self, key: bytes):
        self._key = key

    def encode(self, query: SearchQuery, sort_key: tuple[Any, ...]) -> str:
        # A store that returned a misfit sort key is a bug to surface here, not on the next page.
        try:
            after = check_sort_key(query.sort, sort_key)
        except InvalidCursor as error:
            raise ValueError(f"the store returned an unusable sort key: {error}") from None
        payload = json.dumps(
            {"v": TOKEN_VERSION, "q": fingerprint(query), "after": list(after)},
            separators=(",", ":"),
            allow_nan=False,
        ).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, query: SearchQuery, token: str) -> tuple[Any, ...]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidCursor("the token is too long")
        if not _TOKEN.fullmatch(token):
            raise InvalidCursor(NOT_A_TOKEN)
        encoded_payload, encoded_signature = token.split(".")
        try:
            payload, signature = _unb64(encoded_payload), _unb64(encoded_signature)
        except (ValueError, binascii.Error):
            raise InvalidCursor(NOT_A_TOKEN) from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursor(
                "the token was not issued by this API or was altered; repeat the search "
                "without next"
            )
        content = _load(payload)
        if content.get("q") != fingerprint(query):
            raise InvalidCursor(
                "the token belongs to a different query; repeat the same parameters"
            )
        return check_sort_key(query.sort, content.get("after"))

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()


def _load(payload: bytes) -> dict[str, Any]:
    """The signed payload; a signed token of another format version is refused all the same."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        content = json.loads(payload, parse_constant=no_constants)
    except (ValueError, RecursionError):  # UnicodeDecodeError included
        raise InvalidCursor(NOT_A_TOKEN) from None
    if (
        not isinstance(content, dict)
        or type(content.get("v")) is not int
        or content["v"] != TOKEN_VERSION
    ):
        raise InvalidCursor("the token has an older format; repeat the search without next")
    return content


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
