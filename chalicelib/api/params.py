"""The API's query parameters: one table per route that drives validation, the request object
and the OpenAPI document.

Each parameter names the request field it fills and its default, so parsing returns a frozen
request (SearchRequest, LabelsRequest) with every field set and no default is written twice.

Unknown parameters are rejected (400) rather than ignored, so a typo such as ``lable=Dog`` is
reported instead of silently returning every image. A parameter given twice is rejected unless
it is repeatable (``label``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from chalicelib.api.errors import InvalidParameter
from chalicelib.search.query import (
    DEFAULT_PAGE_SIZE,
    MATCH_ALL,
    MATCH_ANY,
    MAX_LABELS,
    SORT_CONFIDENCE,
    SORT_NEWEST,
    SORT_RELEVANCE,
    TIME_EVENT,
    TIME_INDEXED,
)
from chalicelib.timestamps import WINDOW_TEXT, InvalidTime, canonical_time
from chalicelib.vocabulary import Match, Sort, TimeField

MAX_LABEL_LENGTH = 100
MAX_TEXT_LENGTH = 200
# Key prefixes are limited in UTF-8 bytes, which is what the engines count: OpenSearch turns a
# prefix into an automaton over its bytes and refuses one above 1,000 ("input automaton is too
# large"). Half of S3's 1,024-byte key limit leaves room for any engine version, and both
# stores are held to it here, before either sees the prefix.
MAX_KEY_PREFIX_BYTES = 512
MAX_PAGE_SIZE = 100
MAX_TOKEN_LENGTH = 2048

# Control characters (C0 such as NUL and newlines, DEL, C1 such as U+0085), lone surrogates
# (not text; no UTF-8 encoder takes them) and line/paragraph separators have no business in a
# label or a search.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Unicode's Bidi_Control characters: marks, embeddings, overrides and isolates, which make
# text display in another order than it is stored (U+202E turns "gpj.exe" around).
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# S3's bucket naming rules.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")  # the request object a ParameterTable fills


@dataclass(frozen=True)
class Param:
    name: str  # in the query string
    field: str  # the request object's attribute that it fills
    description: str
    schema: dict[str, Any]  # the OpenAPI schema of one value, less the default
    parse: Callable[[str, str], Any]  # (name, raw value) -> parsed value; raises InvalidParameter
    default: Any = None  # the value when the parameter is absent, and the documented default
    repeatable: bool = False  # given any number of times; the values form a tuple

    @property
    def openapi_schema(self) -> dict[str, Any]:
        """The schema of one value, with the default when there is one to document."""
        if self.default is None or self.repeatable:
            return self.schema
        return {**self.schema, "default": self.default}


def _unprintable(value: str) -> str | None:
    """The first character that has no place in a parameter, if any."""
    for char in value:
        if char in _BIDI_CONTROLS or unicodedata.category(char) in _UNPRINTABLE_CATEGORIES:
            return char
    return None


def _text(max_length: int, what: str, in_utf8_bytes: bool = False) -> Callable[[str, str], str]:
    """Text of at most ``max_length`` characters, or bytes of UTF-8 when ``in_utf8_bytes``."""

    def parse(name: str, raw: str) -> str:
        # Checked before stripping: str.strip() removes U+0085 and U+001C-U+001F too, which
        # must be refused wherever they are, not quietly dropped at the ends.
        bad = _unprintable(raw)
        if bad is not None:
            raise InvalidParameter(
                name,
                f"{name} must not contain control, bidirectional-formatting or surrogate "
                f"characters (found U+{ord(bad):04X})",
            )
        value = raw.strip()
        if not value:
            raise InvalidParameter(name, f"{name} must not be empty")
        length = len(value.encode("utf-8")) if in_utf8_bytes else len(value)
        if length > max_length:
            unit = "bytes as UTF-8" if in_utf8_bytes else "characters"
            raise InvalidParameter(name, f"{name} must be at most {max_length} {unit}")
        return value

    parse.__doc__ = what
    return parse


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise InvalidParameter(name, f"{name} must be one of: {', '.join(allowed)}")
        return allowed[allowed.index(value)]  # the member itself when given enum members

    return parse


def _number(low: float, high: float, integer: bool = False) -> Callable[[str, str], float]:
    kind = "an integer" if integer else "a number"

    def parse(name: str, raw: str):
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            raise InvalidParameter(name, f"{name} must be {kind} from {low} to {high}") from None
        if not low <= value <= high:  # also rejects nan
            raise InvalidParameter(name, f"{name} must be {kind} from {low} to {high}")
        return value

    return parse


def _boolean(name: str, raw: str) -> bool:
    return _choice("true", "false")(name, raw) == "true"


def _time(name: str, raw: str) -> str:
    try:
        return canonical_time(raw.strip())
    except InvalidTime:
        raise InvalidParameter(
            name,
            f"{name} must be an ISO-8601 time such as 2026-11-27T20:00:00Z, {WINDOW_TEXT}",
        ) from None


def _bucket(name: str, raw: str) -> str:
    if not _BUCKET_NAME.fullmatch(raw):
        raise InvalidParameter(name, f"{name} must be a valid S3 bucket name")
    return raw


def _labels(name: str, raw: str) -> list[str]:
    labels = [_text(MAX_LABEL_LENGTH, "")(name, part) for part in raw.split(",") if part.strip()]
    if not labels:
        raise InvalidParameter(name, f"{name} must not be empty")
    return labels


def _string(max_length: int, **extra) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, **extra}


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


FILTER_PARAMS = (
    Param(
        "label",
        "labels",
        "Label to look for; repeat it or separate labels with commas. Case-insensitive; "
        "matches parents and aliases too unless expand=false.",
        _string(MAX_LABEL_LENGTH),
        _labels,
        default=(),
        repeatable=True,
    ),
    Param(
        "match",
        "match",
        "all: every label must match; any: at least one.",
        _enum(MATCH_ALL, MATCH_ANY),
        _choice(MATCH_ALL, MATCH_ANY),
        default=MATCH_ALL,
    ),
    Param(
        "expand",
        "expand",
        "Also match label parents and aliases (label=animal finds dogs).",
        {"type": "boolean"},
        _boolean,
        default=True,
    ),
    Param(
        "min_confidence",
        "min_confidence",
        "Minimum confidence (0-100) of the label that matched. Defaults to the stage's "
        "DEFAULT_MIN_CONFIDENCE.",
        {"type": "number", "minimum": 0, "maximum": 100},
        _number(0, 100),
        # No default here: the stage's, which the search service holds (None until then).
    ),
    Param(
        "q",
        "text",
        "Free text, typo-tolerant, over label names, aliases and detected text.",
        _string(MAX_TEXT_LENGTH),
        _text(MAX_TEXT_LENGTH, "free text"),
    ),
    Param("bucket", "bucket", "Only images in this bucket.", _string(63), _bucket),
    Param(
        "since",
        "since",
        f"Only images at or after this ISO-8601 time (see time), {WINDOW_TEXT}.",
        {"type": "string", "format": "date-time"},
        _time,
    ),
    Param(
        "until",
        "until",
        f"Only images before this ISO-8601 time (see time), {WINDOW_TEXT}.",
        {"type": "string", "format": "date-time"},
        _time,
    ),
    Param(
        "time",
        "time_field",
        "Which time since/until apply to: when indexed, or when S3 reported the upload.",
        _enum(TIME_INDEXED, TIME_EVENT),
        _choice(TIME_INDEXED, TIME_EVENT),
        default=TIME_INDEXED,
    ),
)
KEY_PREFIX_DESCRIPTION = (
    "Only images whose object key starts with this text (case-sensitive, literal); at most "
    f"{MAX_KEY_PREFIX_BYTES} bytes as UTF-8."
)


def _key_prefix(name: str) -> Param:
    """The key-prefix filter: ``prefix`` on /search, ``key_prefix`` on /labels."""
    return Param(
        name,
        "key_prefix",
        KEY_PREFIX_DESCRIPTION,
        # maxLength counts characters: a string of at most N bytes has at most N of them.
        _string(MAX_KEY_PREFIX_BYTES),
        _text(MAX_KEY_PREFIX_BYTES, "key prefix", in_utf8_bytes=True),
    )


def _size(description: str) -> Param:
    return Param(
        "size",
        "size",
        description,
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        _number(1, MAX_PAGE_SIZE, integer=True),
        default=DEFAULT_PAGE_SIZE,
    )


@dataclass(frozen=True)
class FilterRequest:
    """The restrictions that /search and /labels share (FILTER_PARAMS and the key prefix).

    No field has a default: every value, given or not, comes from the parameter table.
    """

    labels: tuple[str, ...]
    match: Match
    expand: bool
    min_confidence: float | None  # None: the stage's DEFAULT_MIN_CONFIDENCE
    text: str | None
    bucket: str | None
    since: str | None  # canonical time (chalicelib.timestamps), inclusive
    until: str | None  # canonical time, exclusive
    time_field: TimeField
    key_prefix: str | None


@dataclass(frozen=True)
class SearchRequest(FilterRequest):
    """GET /search."""

    sort: Sort
    size: int
    next_token: str | None  # the previous page's ``next``, still to be verified


@dataclass(frozen=True)
class LabelsRequest(FilterRequest):
    """GET /labels."""

    label_prefix: str | None
    size: int


@dataclass(frozen=True)
class NoQuery:
    """The request of a route that takes no query parameters (any given is a 400)."""


@dataclass(frozen=True)
class ParameterTable(Generic[R]):
    """One route's query parameters and the frozen request object that parsing them fills."""

    request_type: type[R]
    params: tuple[Param, ...]

    def __post_init__(self) -> None:
        # Every field of the request is filled from exactly one parameter, at import time.
        targets = sorted(param.field for param in self.params)
        if targets != sorted(field.name for field in fields(self.request_type)):
            raise TypeError(f"{self.request_type.__name__} is not filled by {targets}")

    def parse(self, query: Mapping[str, Sequence[str]] | None) -> R:
        """Validate raw query parameters (name -> every value given) into the request."""
        by_name = {param.name: param for param in self.params}
        given: dict[str, Any] = {}
        for name, raw_values in (query or {}).items():
            param = by_name.get(name)
            if param is None:
                allowed = ", ".join(by_name)
                raise InvalidParameter(name, f"unknown parameter {name!r}; allowed: {allowed}")
            given[param.field] = _parse_values(param, raw_values)
        since, until = given.get("since"), given.get("until")
        if since and until and since >= until:
            raise InvalidParameter("until", "until must be later than since")
        values = {param.field: given.get(param.field, param.default) for param in self.params}
        return self.request_type(**values)


def _parse_values(param: Param, raw_values: Sequence[str]) -> Any:
    name = param.name
    if not param.repeatable:
        if len(raw_values) > 1:
            raise InvalidParameter(name, f"{name} may be given only once")
        return param.parse(name, raw_values[0])
    values = tuple(value for raw in raw_values for value in param.parse(name, raw))
    if len(values) > MAX_LABELS:
        raise InvalidParameter(name, f"at most {MAX_LABELS} values of {name} are allowed")
    return values


SEARCH_PARAMETERS = ParameterTable(
    SearchRequest,
    (
        *FILTER_PARAMS,
        _key_prefix("prefix"),
        Param(
            "sort",
            "sort",
            "relevance: sum of the matched labels' confidence (plus free-text matches); "
            "confidence: highest matched confidence; newest: most recently indexed first.",
            _enum(SORT_RELEVANCE, SORT_CONFIDENCE, SORT_NEWEST),
            _choice(SORT_RELEVANCE, SORT_CONFIDENCE, SORT_NEWEST),
            default=SORT_RELEVANCE,
        ),
        _size(f"Page size, 1-{MAX_PAGE_SIZE}."),
        Param(
            "next",
            "next_token",
            "The next token of the previous page, with the same other parameters (signed: an "
            "altered or forged token is a 400).",
            _string(MAX_TOKEN_LENGTH),
            _text(MAX_TOKEN_LENGTH, "token"),
        ),
    ),
)
LABELS_PARAMETERS = ParameterTable(
    LabelsRequest,
    (
        *FILTER_PARAMS,
        Param(
            "prefix",
            "label_prefix",
            "Only label names starting with this text (case-insensitive).",
            _string(MAX_LABEL_LENGTH),
            _text(MAX_LABEL_LENGTH, "label prefix"),
        ),
        _key_prefix("key_prefix"),
        _size(f"How many label names, 1-{MAX_PAGE_SIZE}."),
    ),
)
NO_PARAMETERS = ParameterTable(NoQuery, ())
