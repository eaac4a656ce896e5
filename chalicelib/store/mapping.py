"""Index template for the image documents.

Writes and reads go through the alias (``imagerepository`` by default), which points at a
versioned index (``imagerepository-v1``). A future mapping change creates ``-v2`` from the
template, reindexes, and swaps the alias without downtime; Kibana's ``imagerepository*``
index pattern matches the alias and every version.
"""

from __future__ import annotations

MAPPING_VERSION = 1

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

MAPPINGS = {
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


def versioned_index(alias: str) -> str:
    return f"{alias}-v{MAPPING_VERSION}"


def index_template(alias: str, replicas: int = 1) -> dict:
    """A legacy ``_template`` body: understood by Elasticsearch 7.x and every OpenSearch.

    ``replicas`` is 0 on a single-node domain, where a replica could never be assigned and the
    cluster would stay yellow.
    """
    return {
        "index_patterns": [f"{alias}-v*"],
        "settings": {**SETTINGS, "number_of_replicas": replicas},
        "mappings": MAPPINGS,
    }
