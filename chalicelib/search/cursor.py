"""Opaque ``next`` tokens for cursor pagination.

A token carries the sort key of the last item of a page (search_after) and a fingerprint of
the query that produced it, so a token cannot be replayed against a different query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import asdict
from typing import Any

from chalicelib.search.query import SearchQuery

MAX_TOKEN_LENGTH = 2048


class InvalidCursor(ValueError):
    """The token is not one this API issued for this query."""


def fingerprint(query: SearchQuery) -> str:
    shape = {"filters": asdict(query.filters), "sort": query.sort}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def encode(query: SearchQuery, sort_key: tuple[Any, ...]) -> str:
    payload = json.dumps({"q": fingerprint(query), "after": list(sort_key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode(query: SearchQuery, token: str) -> tuple[Any, ...]:
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidCursor("the token is too long")
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after, issued_for = payload["after"], payload["q"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidCursor("the token is not a valid next token") from None
    if issued_for != fingerprint(query) or not isinstance(after, list):
        raise InvalidCursor("the token belongs to a different query; repeat the same parameters")
    if not all(isinstance(value, str | int | float) for value in after):
        raise InvalidCursor("the token is not a valid next token")
    return tuple(after)
