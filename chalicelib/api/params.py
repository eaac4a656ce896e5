"""The API's query parameters: one table that drives both validation and the OpenAPI document.

Unknown parameters are rejected (400) rather than ignored, so a typo such as ``lable=Dog`` is
reported instead of silently returning every image. A parameter given twice is rejected unless
it is repeatable (``label``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.search.query import (
    MATCH_ALL,
    MATCH_ANY,
    SORT_CONFIDENCE,
    SORT_NEWEST,
    SORT_RELEVANCE,
    TIME_EVENT,
    TIME_INDEXED,
)
from chalicelib.timestamps import canonical_time

MAX_LABELS = 10
MAX_LABEL_LENGTH = 100
MAX_TEXT_LENGTH = 200
MAX_KEY_PREFIX_LENGTH = 1024
MAX_PAGE_SIZE = 100
# Control characters (NUL, newlines, ...) have no business in a label or a search.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# S3's bucket naming rules.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class InvalidParameter(ValueError):
    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    schema: dict[str, Any]  # the OpenAPI schema of one value
    parse: Callable[[str, str], Any]  # (name, raw value) -> parsed value; raises InvalidParameter
    repeatable: bool = False


def _text(max_length: int, what: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip()
        if not value:
            raise InvalidParameter(name, f"{name} must not be empty")
        if len(value) > max_length:
            raise InvalidParameter(name, f"{name} must be at most {max_length} characters")
        if _CONTROL.search(value):
            raise InvalidParameter(name, f"{name} must not contain control characters")
        return value

    parse.__doc__ = what
    return parse


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise InvalidParameter(name, f"{name} must be one of: {', '.join(allowed)}")
        return value

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
    except ValueError:
        raise InvalidParameter(
            name, f"{name} must be an ISO-8601 time such as 2026-11-27T20:00:00Z"
        ) from None


def _bucket(name: str, raw: str) -> str:
    if not _BUCKET_NAME.match(raw):
        raise InvalidParameter(name, f"{name} must be a valid S3 bucket name")
    return raw


def _labels(name: str, raw: str) -> list[str]:
    labels = [_text(MAX_LABEL_LENGTH, "")(name, part) for part in raw.split(",") if part.strip()]
    if not labels:
        raise InvalidParameter(name, f"{name} must not be empty")
    return labels


def _string(max_length: int, **extra) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, **extra}


def _enum(*values: str, default: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values), "default": default}


LABEL = Param(
    "label",
    "Label to look for; repeat it or separate labels with commas. Case-insensitive; matches "
    "parents and aliases too unless expand=false.",
    _string(MAX_LABEL_LENGTH),
    _labels,
    repeatable=True,
)
FILTER_PARAMS = (
    LABEL,
    Param(
        "match",
        "all: every label must match; any: at least one.",
        _enum(MATCH_ALL, MATCH_ANY, default=MATCH_ALL),
        _choice(MATCH_ALL, MATCH_ANY),
    ),
    Param(
        "expand",
        "Also match label parents and aliases (label=animal finds dogs).",
        {"type": "boolean", "default": True},
        _boolean,
    ),
    Param(
        "min_confidence",
        "Minimum confidence (0-100) of the label that matched. Defaults to the stage's "
        "DEFAULT_MIN_CONFIDENCE.",
        {"type": "number", "minimum": 0, "maximum": 100},
        _number(0, 100),
    ),
    Param(
        "q",
        "Free text, typo-tolerant, over label names, aliases and detected text.",
        _string(MAX_TEXT_LENGTH),
        _text(MAX_TEXT_LENGTH, "free text"),
    ),
    Param("bucket", "Only images in this bucket.", _string(63), _bucket),
    Param(
        "since",
        "Only images at or after this ISO-8601 time (see time).",
        {"type": "string", "format": "date-time"},
        _time,
    ),
    Param(
        "until",
        "Only images before this ISO-8601 time (see time).",
        {"type": "string", "format": "date-time"},
        _time,
    ),
    Param(
        "time",
        "Which time since/until apply to: when indexed, or when S3 reported the upload.",
        _enum(TIME_INDEXED, TIME_EVENT, default=TIME_INDEXED),
        _choice(TIME_INDEXED, TIME_EVENT),
    ),
)
KEY_PREFIX_DESCRIPTION = "Only images whose object key starts with this text."
SEARCH_PARAMS = (
    *FILTER_PARAMS,
    Param(
        "prefix",
        KEY_PREFIX_DESCRIPTION,
        _string(MAX_KEY_PREFIX_LENGTH),
        _text(MAX_KEY_PREFIX_LENGTH, "key prefix"),
    ),
    Param(
        "sort",
        "relevance: sum of the matched labels' confidence (plus free-text matches); "
        "confidence: highest matched confidence; newest: most recently indexed first.",
        _enum(SORT_RELEVANCE, SORT_CONFIDENCE, SORT_NEWEST, default=SORT_RELEVANCE),
        _choice(SORT_RELEVANCE, SORT_CONFIDENCE, SORT_NEWEST),
    ),
    Param(
        "size",
        f"Page size, 1-{MAX_PAGE_SIZE}.",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 20},
        _number(1, MAX_PAGE_SIZE, integer=True),
    ),
    Param(
        "next",
        "The next token of the previous page, with the same other parameters.",
        _string(2048),
        _text(2048, "token"),
    ),
)
LABELS_PARAMS = (
    *FILTER_PARAMS,
    Param(
        "prefix",
        "Only label names starting with this text (case-insensitive).",
        _string(MAX_LABEL_LENGTH),
        _text(MAX_LABEL_LENGTH, "label prefix"),
    ),
    Param(
        "key_prefix",
        KEY_PREFIX_DESCRIPTION,
        _string(MAX_KEY_PREFIX_LENGTH),
        _text(MAX_KEY_PREFIX_LENGTH, "key prefix"),
    ),
    Param(
        "size",
        f"How many label names, 1-{MAX_PAGE_SIZE}.",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 20},
        _number(1, MAX_PAGE_SIZE, integer=True),
    ),
)


@dataclass
class ParsedParams:
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def parse_params(specs: Sequence[Param], query: Mapping[str, Sequence[str]] | None) -> ParsedParams:
    """Validate raw query parameters (name -> every value given) against ``specs``."""
    by_name = {spec.name: spec for spec in specs}
    parsed = ParsedParams()
    for name, raw_values in (query or {}).items():
        spec = by_name.get(name)
        if spec is None:
            allowed = ", ".join(by_name)
            raise InvalidParameter(name, f"unknown parameter {name!r}; allowed: {allowed}")
        if len(raw_values) > 1 and not spec.repeatable:
            raise InvalidParameter(name, f"{name} may be given only once")
        if spec.repeatable:
            values = [value for raw in raw_values for value in spec.parse(name, raw)]
            if len(values) > MAX_LABELS:
                raise InvalidParameter(name, f"at most {MAX_LABELS} values of {name} are allowed")
            parsed.values[name] = values
        else:
            parsed.values[name] = spec.parse(name, raw_values[0])
    since, until = parsed.get("since"), parsed.get("until")
    if since and until and since >= until:
        raise InvalidParameter("until", "until must be later than since")
    return parsed
