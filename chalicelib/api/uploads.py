"""Presigned POST forms that let a browser upload one image straight to the private bucket."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from chalicelib.api.errors import InvalidParameter, NotFound
from chalicelib.settings import REKOGNITION_MAX_S3_OBJECT_BYTES

CONTENT_TYPES = {"image/jpeg": ".jpg", "image/png": ".png"}
MAX_FILENAME_LENGTH = 200
# The request is two short strings; a larger body is refused before it is parsed, so a
# megabyte of nesting costs nothing.
MAX_BODY_BYTES = 4096
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
UPLOADS_DISABLED = "uploads are not enabled on this stage (UPLOAD_BUCKET)"


class UploadForms:
    def __init__(self, s3_client, bucket: str, prefix: str, expiry_seconds: int):
        self._s3 = s3_client
        self._bucket = bucket
        self._prefix = prefix
        self._expiry = expiry_seconds

    def form_for(self, raw_body: bytes | None) -> dict[str, Any]:
        """A presigned POST for the JSON request ``{"filename": ..., "content_type": ...}``."""
        body = _json_object(raw_body or b"")
        content_type = body.get("content_type")
        # Not ``in CONTENT_TYPES`` straight away: a list or an object is unhashable.
        if not isinstance(content_type, str) or content_type not in CONTENT_TYPES:
            raise InvalidParameter(
                "content_type", f"content_type must be one of: {', '.join(CONTENT_TYPES)}"
            )
        filename = body.get("filename")
        if not isinstance(filename, str) or not 0 < len(filename) <= MAX_FILENAME_LENGTH:
            raise InvalidParameter(
                "filename", f"filename must be 1-{MAX_FILENAME_LENGTH} characters"
            )
        # A fresh, safe key per upload: no overwrites of other images, no path tricks.
        stem = _UNSAFE.sub("-", filename.rsplit(".", 1)[0]).strip("-.")[:80] or "image"
        key = f"{self._prefix}{uuid.uuid4().hex[:12]}-{stem}{CONTENT_TYPES[content_type]}"
        form = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, REKOGNITION_MAX_S3_OBJECT_BYTES],
            ],
            ExpiresIn=self._expiry,
        )
        return {"url": form["url"], "fields": form["fields"], "bucket": self._bucket, "key": key}


def enabled_forms(forms: UploadForms | None) -> UploadForms:
    """The stage's upload forms, or a 404 on a stage without UPLOAD_BUCKET (``None``): checked
    before the body is read, so such a stage answers every POST alike."""
    if forms is None:
        raise NotFound(UPLOADS_DISABLED)
    return forms


def _json_object(raw_body: bytes) -> dict[str, Any]:
    expected = "send a JSON object with filename and content_type"
    if len(raw_body) > MAX_BODY_BYTES:
        raise InvalidParameter("body", f"{expected}, at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw_body or b"null")
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past Python's stack
        body = None
    if not isinstance(body, dict):
        raise InvalidParameter("body", expected)
    return body
