"""Index template for the image documents.

Writes and reads go through the alias (``imagerepository`` by default), which points at a
versioned index (``imagerepository-v2``). A mapping change creates the next version from its
template, copies the documents and swaps the alias without downtime (localdev/migration.py);
Kibana's ``imagerepository*`` index pattern matches the alias and every version.

Version 2 adds two derived keyword fields, ``label_bands`` and ``name_bands`` (see
``index_document``): a flat token per label term and confidence band, so that a minimum
confidence and the best-first tiers of a one-label search (chalicelib/store/es_queries.py) are
term filters on a flat field instead of nested range queries visited for every match. They are
derived from ``labels`` at write time and left out of ``_source``: the stored document, and what
the API returns, stay exactly as chalicelib.documents builds them.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from chalicelib.search import tiers
from chalicelib.search.query import fold

MAPPING_VERSION = 2
# Confidence bands of the derived tokens, highest first. A label with confidence c carries the
# token of every band <= c: "dog|90" means "some label answering dog has confidence >= 90", and
# "dog|0" that some label answers dog at all (aliases included, which label_names lacks).
# Rekognition answers from 50 by default; 80, 90, 95 and 99 are the thresholds people pick.
CONFIDENCE_BANDS = tiers.BANDS
BAND_FIELDS = ("label_bands", "name_bands")

# Case- and accent-insensitive matching at index and query time (a term query for "cafe" finds
# "Café"); the ``raw`` sub-field keeps the original casing for display and Kibana charts.
NORMALIZED_KEYWORD = {
    "type": "keyword",
    "normalizer": "label_normalizer",
    "fields": {"raw": {"type": "keyword"}},
}
BOUNDING_BOX = {
    "properties": {
        "width": {"type": "float"},
        "height": {"type": "float"},
        "left": {"type": "float"},
        "top": {"type": "float"},
    }
}

MAPPINGS: dict[str, Any] = {
    # A typo in the document builder must fail loudly, not grow the mapping.
    "dynamic": "strict",
    "properties": {
        "image_id": {"type": "keyword"},
        "bucket": {"type": "keyword"},
        "key": {"type": "keyword"},
        "s3_uri": {"type": "keyword"},
        "url": {"type": "keyword", "index": False},
        "size": {"type": "long"},
        "etag": {"type": "keyword"},
        "version_id": {"type": "keyword"},
        "event_name": {"type": "keyword"},
        "event_time": {"type": "date"},
        "sequencer": {"type": "keyword"},
        "indexed_at": {"type": "date"},
        "deleted": {"type": "boolean"},
        "label_model_version": {"type": "keyword"},
        # Nested so that "Dog with confidence >= 80" is evaluated per label: a plain object
        # array would match an image with Dog@60 and Cat@95.
        "labels": {
            "type": "nested",
            "properties": {
                "name": NORMALIZED_KEYWORD,
                "confidence": {"type": "float"},
                "parents": NORMALIZED_KEYWORD,
                "aliases": NORMALIZED_KEYWORD,
                "categories": NORMALIZED_KEYWORD,
                "instances": {
                    "properties": {
                        "confidence": {"type": "float"},
                        "bounding_box": BOUNDING_BOX,
                    }
                },
            },
        },
        # Kibana and Dashboards cannot aggregate nested fields: this flat copy of label and
        # parent names feeds their charts and the /labels facet counts.
        "label_names": NORMALIZED_KEYWORD,
        # Label names, aliases and detected text for typo-tolerant free-text search.
        "search_text": {"type": "text"},
        "image_properties": {
            "properties": {
                "quality": {
                    "properties": {
                        "brightness": {"type": "float"},
                        "sharpness": {"type": "float"},
                        "contrast": {"type": "float"},
                    }
                },
                "dominant_colors": {
                    "properties": {
                        "hex": {"type": "keyword"},
                        "css_color": {"type": "keyword"},
                        "simplified_color": {"type": "keyword"},
                        "pixel_percent": {"type": "float"},
                    }
                },
            }
        },
        "text": {
            "properties": {
                "text": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
                "confidence": {"type": "float"},
            }
        },
        "moderation_labels": {
            "properties": {
                "name": NORMALIZED_KEYWORD,
                "parent": NORMALIZED_KEYWORD,
                "confidence": {"type": "float"},
            }
        },
        "faces": {
            "properties": {
                "confidence": {"type": "float"},
                "bounding_box": BOUNDING_BOX,
            }
        },
        "face_count": {"type": "integer"},
    },
}

SETTINGS = {
    # One shard holds tens of millions of these small documents, keeps term counts exact and
    # scores comparable; more shards only pay off far beyond that.
    "number_of_shards": 1,
    "analysis": {
        "normalizer": {
            "label_normalizer": {"type": "custom", "filter": ["lowercase", "asciifolding"]}
        }
    },
}


# Version 2 adds the band fields; nothing else changes, so version 1's queries stay valid on it.
BAND_MAPPINGS = {field: {"type": "keyword"} for field in BAND_FIELDS}
MAPPINGS_BY_VERSION = {
    1: MAPPINGS,
    2: {
        **MAPPINGS,
        # Derived from labels at every write (and at a migration's copy): never stored twice.
        "_source": {"excludes": list(BAND_FIELDS)},
        "properties": {**MAPPINGS["properties"], **BAND_MAPPINGS},
    },
}


def versioned_index(alias: str, version: int = MAPPING_VERSION) -> str:
    return f"{alias}-v{version}"


def version_of(index: str) -> int | None:
    """The mapping version of a versioned index name (``imagerepository-v2`` -> 2)."""
    _, _, suffix = index.rpartition("-v")
    return int(suffix) if suffix.isdigit() else None


def index_template(alias: str, replicas: int = 1, version: int = MAPPING_VERSION) -> dict:
    """A legacy ``_template`` body: understood by Elasticsearch 6.8, 7.x and every OpenSearch.

    It matches its own version's index only, so that an older index created by hand (a
    migration's source, a test) gets exactly the mappings it is created with.
    ``replicas`` is 0 on a single-node domain, where a replica could never be assigned and the
    cluster would stay yellow.
    """
    return {
        "index_patterns": [versioned_index(alias, version)],
        "settings": {**SETTINGS, "number_of_replicas": replicas},
        "mappings": MAPPINGS_BY_VERSION[version],
    }


def band_term(term: str, band: int) -> str:
    """The token of a folded label term in a band: ``band_term("dog", 90) == "dog|90"``."""
    return f"{term}|{band}"


def band_at_most(min_confidence: float) -> int:
    """The highest band at or below a minimum confidence: every label term that has a label at
    or above the minimum carries this band's token (the prefilter of a search)."""
    return next(band for band in CONFIDENCE_BANDS if band <= min_confidence)


def as_float32(value: float) -> float:
    """A confidence as the index holds it (``float``: 32 bits), so that a band token and the
    engine's score agree at a boundary: 94.99999999 is stored, and scored, as 95.0."""
    return struct.unpack("f", struct.pack("f", value))[0]


def index_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document as written to a version-2 index: the band tokens added (idempotent, so a
    migration may apply it to a document that already has them)."""
    if document.get("deleted"):
        return {key: value for key, value in document.items() if key not in BAND_FIELDS}
    best: dict[str, dict[str, float]] = {"label_bands": {}, "name_bands": {}}
    for label in document.get("labels") or []:
        confidence = as_float32(label["confidence"])
        names = [label["name"]]
        expanded = names + list(label.get("parents") or ()) + list(label.get("aliases") or ())
        for field, terms in (("name_bands", names), ("label_bands", expanded)):
            for term in map(fold, terms):
                best[field][term] = max(confidence, best[field].get(term, 0.0))
    tokens = {
        field: sorted(
            band_term(term, band)
            for term, confidence in scores.items()
            for band in CONFIDENCE_BANDS
            if confidence >= band
        )
        for field, scores in best.items()
    }
    return {**document, **tokens}
