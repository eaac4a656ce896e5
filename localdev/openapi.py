"""Generates the API's OpenAPI 3 description from the Chalice routes and the parameter table.

    python -m localdev.openapi           # rewrite openapi.json
    python -m localdev.openapi --check   # exit 1 when openapi.json is out of date (CI)

Paths, methods and path parameters come from ``app.routes``; query parameters from the table
each view was decorated with (chalicelib/api/params.py), which also validates requests and fills
their request objects, defaults included. So the document cannot drift from the code without the
check failing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chalicelib.search.query import TOTAL_HITS_LIMIT

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.json"

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What is wrong, naming allowed values."},
        "parameter": {"type": "string", "description": "The offending parameter."},
    },
}
LABEL = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "confidence": {"type": "number"}},
}
SEARCH_RESULT = {
    "type": "object",
    "required": ["total", "total_is_exact", "items", "next"],
    "properties": {
        "total": {
            "type": "integer",
            "description": f"How many images match: exact up to {TOTAL_HITS_LIMIT:,}; past "
            f"that {TOTAL_HITS_LIMIT:,}, with total_is_exact false (counting stops there).",
        },
        "total_is_exact": {
            "type": "boolean",
            "description": "False when more images match than total says (total is then a "
            "lower bound).",
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "bucket": {"type": "string"},
                    "key": {"type": "string"},
                    "url": {"type": "string", "description": "Presigned GET URL."},
                    "labels": {"type": "array", "items": LABEL},
                    "matched": {"type": "array", "items": {"type": "string"}},
                    "indexed_at": {"type": "string", "format": "date-time"},
                },
            },
        },
        "next": {"type": ["string", "null"], "description": "Token for the next page."},
    },
}
LABEL_COUNTS = {
    "type": "object",
    "properties": {
        "labels": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "count": {"type": "integer"}},
            },
        }
    },
}
IMAGE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "url": {"type": "string"},
        "document": {"type": "object", "description": "The stored index document."},
    },
}
HEALTH = {"type": "object", "properties": {"status": {"type": "string"}}}
UPLOAD_FORM = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "description": "POST the form here (multipart/form-data)."},
        "fields": {"type": "object", "description": "Form fields to send before the file."},
        "bucket": {"type": "string"},
        "key": {"type": "string"},
    },
}
UPLOAD_REQUEST = {
    "type": "object",
    "required": ["filename", "content_type"],
    "properties": {
        "filename": {"type": "string", "minLength": 1, "maxLength": 200},
        "content_type": {"type": "string", "enum": ["image/jpeg", "image/png"]},
    },
}
HTML = {"description": "The web gallery", "content": {"text/html": {"schema": {"type": "string"}}}}

RESULTS = {
    "/search": ("Search images by label, text and filters", SEARCH_RESULT),
    "/labels": ("Label names with image counts (autocomplete, facets)", LABEL_COUNTS),
    "/images/{image_id}": ("One image's stored document and a presigned URL", IMAGE),
    "/health": ("Whether the search cluster answers", HEALTH),
    "/uploads": (
        "A presigned POST form for one image upload (when UPLOAD_BUCKET is set)",
        UPLOAD_FORM,
    ),
    "/gallery": ("The web gallery (a static page)", None),
}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(path: str, entry) -> dict:
    summary, result = RESULTS[path]
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        }
        for name in entry.view_args
    ]
    for param in getattr(entry.view_function, "query_parameters", ()):
        schema = param.openapi_schema
        if param.repeatable:
            schema = {"type": "array", "items": schema}
        parameters.append(
            {
                "name": param.name,
                "in": "query",
                "required": False,
                "description": param.description,
                "schema": schema,
                **({"style": "form", "explode": True} if param.repeatable else {}),
            }
        )
    if result is None:
        responses = {"200": HTML}
    else:
        responses = {
            "200": _json(result, "Success"),
            "400": _json(ERROR, "An invalid or unknown parameter"),
            "503": _json(ERROR, "The search cluster is unavailable"),
        }
    if entry.view_args:
        responses["404"] = _json(ERROR, "No such image")
    if path == "/uploads":
        responses["404"] = _json(ERROR, "Uploads are not enabled on this stage")
    operation = {
        "operationId": entry.view_name,
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    }
    if entry.method == "POST":
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": UPLOAD_REQUEST}},
        }
    if entry.authorizer is not None:
        operation["security"] = [{"sigv4": []}]
    elif entry.api_key_required:
        operation["security"] = [{"api_key": []}]
    return operation


def build_spec(app) -> dict:
    paths = {
        path: {method.lower(): _operation(path, entry) for method, entry in methods.items()}
        for path, methods in sorted(app.routes.items())
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Image Label Search API",
            "version": "1.0.0",
            "description": "Search images in S3 by the labels Amazon Rekognition gave them. "
            "Unknown query parameters are rejected with 400.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4 (IAM authorizer)",
                },
                "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
            }
        },
    }


def render(app) -> str:
    return json.dumps(build_spec(app), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if openapi.json is stale")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(SPEC_PATH.parent))
    import app as app_module

    text = render(app_module.app)
    if args.check:
        if not SPEC_PATH.exists() or SPEC_PATH.read_text() != text:
            print("openapi.json is out of date: run `make openapi`", file=sys.stderr)
            return 1
        print("openapi.json is up to date")
        return 0
    SPEC_PATH.write_text(text)
    print(f"wrote {SPEC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
