"""Which uploaded objects are worth a Rekognition call.

Skipping here is cheaper and clearer than letting Rekognition reject the object; anything
this check lets through that Rekognition still refuses is skipped by the labeler instead.
"""

from __future__ import annotations

from chalicelib.events import ObjectEvent
from chalicelib.settings import REKOGNITION_MAX_S3_OBJECT_BYTES

# The formats DetectLabels accepts.
SUPPORTED_EXTENSIONS = (".jpg", ".jpeg", ".png")


def skip_reason(event: ObjectEvent) -> str | None:
    """Why a created object cannot be labelled, or None when it can."""
    if not event.key.lower().endswith(SUPPORTED_EXTENSIONS):
        return "not a JPEG or PNG file (by extension)"
    if event.size == 0:
        return "empty object (0 bytes)"
    if event.size is not None and event.size > REKOGNITION_MAX_S3_OBJECT_BYTES:
        return f"larger than Rekognition's {REKOGNITION_MAX_S3_OBJECT_BYTES} byte S3 object limit"
    return None
