"""Which search engine answers, and the few places where the store must speak its dialect.

The engine is read from the cluster's own ``GET /`` answer (once per client, cached), never from
configuration: a domain upgraded in place keeps its endpoint, and a wrong setting would only
move the failure to the first bulk request, where it reads like a mapping error.

What differs between the supported engines, and nothing else:

* Elasticsearch 6.x still has mapping types: the index template's mappings sit under the
  ``_doc`` type (6.x rejects a typeless body as ``Malformed [mappings] section``), every bulk
  action names ``_type`` ("type is missing" otherwise), ``GET <index>/_mapping`` answers typed,
  and ``hits.total`` is a number instead of ``{"value": n, "relation": ...}``. OpenSearch 2.x
  rejects the ``include_type_name`` parameter, so only 6.x gets it (6.8 warns without it).
* ``track_total_hits`` takes an integer (count up to n, then answer ``"relation": "gte"``) from
  Elasticsearch 7.0 and in every OpenSearch; 6.8 takes only a boolean (6.8.23 answers an integer
  with a 500, ``json_parse_exception``). There the store counts every match (``true``) and caps
  the answer itself: the same total, at the old cost.
  ``terminate_after`` would bound the count, but it stops collecting, so the page would be the
  best of the first documents read, not of all matches.
* OpenSearch 2.17-2.19.3 and 3.0-3.3.1 answer 500 (an IndexOutOfBoundsException, OpenSearch
  issue 19636, fixed in 2.19.4 and 3.3.2) to a terms aggregation with an ``include`` regex on the
  default global-ordinals path; ``"execution_hint": "map"`` avoids that path.

Elasticsearch 6.0-6.6 lack ``if_seq_no`` conditional writes, which the store's ordering rule
needs; 8.x and later run a product check that the pinned client predates and drop the OSS
distribution. Both are refused with one error naming the version and what is supported.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chalicelib.search.query import bounded_total

SUPPORTED = "Elasticsearch 6.8 and 7.x, OpenSearch 1.x, 2.x and 3.x"
MAPPING_TYPE = "_doc"  # the one type name Elasticsearch 6.x and 7.x both understand


class Distribution(StrEnum):
    ELASTICSEARCH = "elasticsearch"
    OPENSEARCH = "opensearch"

    @property
    def display_name(self) -> str:
        return {"elasticsearch": "Elasticsearch", "opensearch": "OpenSearch"}[self.value]


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> Version:
        """``6.8.23``, ``3.0.0-SNAPSHOT`` or ``8.0.0-rc1`` (qualifiers are dropped)."""
        match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?(?:[-.+].*)?", text.strip())
        if not match:
            raise ValueError(f"not a version number: {text!r}")
        major, minor, patch = match.groups()
        return cls(int(major), int(minor), int(patch or 0))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class EngineInfo:
    distribution: Distribution
    version: Version
    # OpenSearch with ``compatibility.override_main_response_version`` (the default on Amazon
    # OpenSearch Service domains upgraded from Elasticsearch) reports 7.10.2, not its own version.
    version_hidden: bool = False

    def __str__(self) -> str:
        if self.version_hidden:
            return f"{self.distribution.display_name} (version hidden, reported as {self.version})"
        return f"{self.distribution.display_name} {self.version}"


class UnsupportedEngine(Exception):
    """The cluster runs an engine or version that the store cannot talk to correctly."""


def engine_from_root(body: Mapping[str, Any]) -> EngineInfo:
    """Read the engine from a ``GET /`` answer."""
    version = body.get("version") or {}
    number = version.get("number")
    if not isinstance(number, str):
        raise UnsupportedEngine(f"the cluster's GET / answer has no version number: {body!r:.200}")
    parsed = Version.parse(number)
    if version.get("distribution") == Distribution.OPENSEARCH:
        return EngineInfo(Distribution.OPENSEARCH, parsed)
    # Only the tagline gives OpenSearch away when it impersonates Elasticsearch 7.10.2.
    if "opensearch" in str(body.get("tagline", "")).lower():
        return EngineInfo(Distribution.OPENSEARCH, parsed, version_hidden=True)
    return EngineInfo(Distribution.ELASTICSEARCH, parsed)


@dataclass(frozen=True)
class EngineCompat:
    """The dialect of one engine: every engine-dependent request shape and answer lives here."""

    engine: EngineInfo
    mapping_type: str | None  # "_doc" where mapping types still exist (Elasticsearch 6.x)
    prefix_terms_need_map_hint: bool  # OpenSearch issue 19636
    counts_up_to_a_limit: bool  # track_total_hits takes an integer (not Elasticsearch 6.x)

    def index_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A create-index or legacy ``_template`` body with typeless ``mappings``, typed where
        the engine needs it."""
        if self.mapping_type is None:
            return dict(body)
        return {**body, "mappings": {self.mapping_type: body["mappings"]}}

    @property
    def template_params(self) -> dict[str, str]:
        """Query parameters of ``PUT _template``: 6.8 warns on every typed template unless told
        explicitly that the body is typed (the warning would reach every cold start's log)."""
        return {} if self.mapping_type is None else {"include_type_name": "true"}

    @property
    def put_mapping_params(self) -> dict[str, Any]:
        """Keyword arguments of ``indices.put_mapping``: 6.x names the type in the path
        (``PUT <index>/_doc/_mapping``), which takes the typeless body, and warns unless told
        that the request is typed, as for templates."""
        if self.mapping_type is None:
            return {}
        return {"doc_type": self.mapping_type, "params": self.template_params}

    def bulk_action(self, action: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """A bulk action line such as ``{"create": {"_index": ..., "_id": ...}}``."""
        if self.mapping_type is None:
            return dict(action)
        return {op: {**meta, "_type": self.mapping_type} for op, meta in action.items()}

    def index_mappings(self, mappings: Mapping[str, Any]) -> dict[str, Any]:
        """The typeless mappings of one index from a ``GET <index>/_mapping`` answer."""
        if self.mapping_type is None:
            return dict(mappings)
        return dict(mappings[self.mapping_type])

    def track_total_hits(self, limit: int) -> int | bool:
        """The search's ``track_total_hits`` for counting up to ``limit`` matches."""
        return limit if self.counts_up_to_a_limit else True

    @staticmethod
    def total_hits(hits: Mapping[str, Any], limit: int) -> tuple[int, bool]:
        """``(total, exact)`` as query.bounded_total defines them, from ``hits.total``: a plain
        number (6.x, every match counted) or ``{"value": n, "relation": "eq" | "gte"}``, where
        "gte" means that counting stopped past the limit and n is a lower bound."""
        total = hits["total"]
        if isinstance(total, int):
            return bounded_total(total, limit)
        value = int(total["value"])
        if total["relation"] == "gte":
            return min(value, limit), False
        return bounded_total(value, limit)


def compat_for(engine: EngineInfo) -> EngineCompat:
    """The dialect of a supported engine; UnsupportedEngine for every other one."""
    version = engine.version
    if engine.distribution is Distribution.ELASTICSEARCH:
        if version >= Version(6, 8) and version.major <= 7:
            typed = version.major == 6
            return EngineCompat(
                engine,
                mapping_type=MAPPING_TYPE if typed else None,
                prefix_terms_need_map_hint=False,
                counts_up_to_a_limit=not typed,
            )
    elif engine.version_hidden:
        # The real version is unknown, so assume the engine bug: the hint is correct everywhere.
        return EngineCompat(
            engine,
            mapping_type=None,
            prefix_terms_need_map_hint=True,
            counts_up_to_a_limit=True,  # OpenSearch, whatever its version
        )
    elif 1 <= version.major <= 3:
        return EngineCompat(
            engine,
            mapping_type=None,
            prefix_terms_need_map_hint=_has_issue_19636(version),
            counts_up_to_a_limit=True,
        )
    raise UnsupportedEngine(
        f"{engine} is not supported: the image store runs on {SUPPORTED}. Point "
        "SEARCH_ENDPOINT at a domain running one of those, or upgrade this one."
    )


# (first affected, first fixed) of OpenSearch issue 19636.
ISSUE_19636 = ((Version(2, 17), Version(2, 19, 4)), (Version(3, 0), Version(3, 3, 2)))


def _has_issue_19636(version: Version) -> bool:
    return any(first <= version < fixed for first, fixed in ISSUE_19636)


# One GET / per client: stores built on the same client (tests, the bench) share the answer,
# and the entry goes away with the client.
_DETECTED: weakref.WeakKeyDictionary[Any, EngineCompat] = weakref.WeakKeyDictionary()


def detect(client: Any) -> EngineCompat:
    """The dialect of the engine behind an elasticsearch-py client (GET /, cached per client).

    Connection errors propagate as the client raised them; UnsupportedEngine for an engine the
    store does not support.
    """
    compat = _DETECTED.get(client)
    if compat is None:
        compat = compat_for(engine_from_root(client.info()))
        _DETECTED[client] = compat
    return compat
