"""Asks Amazon Rekognition about one image in S3 and returns the answers in the index's shape.

The image is passed by reference (``S3Object``), never as bytes: Rekognition reads it from S3
itself, so the function needs no memory or bandwidth for the image and the object size limit
is Rekognition's 15 MB rather than the 5 MB limit of an inline ``Bytes`` image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.vocabulary import (
    BoundingBox,
    Face,
    ImageAnalysis,
    ImageProperties,
    Label,
    ModerationLabel,
    TextLine,
)

# Errors that say "this object is not something Rekognition can label". Retrying cannot help,
# so the image is skipped with this reason. Other errors (access denied,
# InvalidS3ObjectException, which also covers missing permissions) are failures: the message is
# retried and, in the end, kept in the dead-letter queue.
UNPROCESSABLE_IMAGE_ERRORS = {
    "InvalidImageFormatException": "not an image format Rekognition accepts",
    "ImageTooLargeException": "image is larger than Rekognition accepts",
    "InvalidParameterException": "Rekognition rejected the image (for example, too small)",
}
# "Too many calls", still so after botocore's retries: the image is fine, the moment is not.
# Rekognition's modelled codes (ProvisionedThroughputExceededException is the TPS quota, HTTP
# 400; ThrottlingException the service's own load); 429 is how botocore surfaces a throttle
# whose body names no code (the status becomes the code).
THROTTLING_ERRORS = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException"})
THROTTLING_STATUS = 429


class LabelingError(Exception):
    """Rekognition answered, but not with labels; ``reason`` says why, for the image's log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class UnprocessableImage(LabelingError):
    """Rekognition will never label this object; skip it with ``reason``."""


class RekognitionThrottled(LabelingError):
    """Rekognition refused for the rate after every retry; the message should come back later
    without counting as a failed attempt (see chalicelib/redelivery.py)."""


def is_throttling(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in THROTTLING_ERRORS or status == THROTTLING_STATUS


@dataclass(frozen=True)
class LabelOptions:
    max_labels: int
    min_confidence: float
    image_properties: bool = False
    text: bool = False
    moderation_labels: bool = False
    faces: bool = False


class RekognitionLabeler:
    def __init__(self, client, options: LabelOptions):
        self._client = client
        self._options = options

    def analyze(self, bucket: str, key: str, version_id: str | None = None) -> ImageAnalysis:
        image = {"S3Object": {"Bucket": bucket, "Name": key}}
        if version_id:
            image["S3Object"]["Version"] = version_id
        try:
            return self._analyze(image)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in UNPROCESSABLE_IMAGE_ERRORS:
                raise UnprocessableImage(f"{UNPROCESSABLE_IMAGE_ERRORS[code]} ({code})") from error
            if is_throttling(error):
                attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
                raise RekognitionThrottled(
                    f"Rekognition throttled ({code}) after {attempts + 1} attempts"
                ) from error
            raise

    def _analyze(self, image: dict) -> ImageAnalysis:
        options = self._options
        request = {
            "Image": image,
            "MaxLabels": options.max_labels,
            "MinConfidence": options.min_confidence,
        }
        if options.image_properties:
            request["Features"] = ["GENERAL_LABELS", "IMAGE_PROPERTIES"]
        response = self._client.detect_labels(**request)
        analysis = ImageAnalysis(
            labels=[_label(label) for label in response.get("Labels", []) if _has_name(label)],
            label_model_version=response.get("LabelModelVersion"),
        )
        if options.image_properties:
            analysis.image_properties = _image_properties(response.get("ImageProperties", {}))
        if options.text:
            analysis.text = _text_lines(self._client.detect_text(Image=image))
        if options.moderation_labels:
            analysis.moderation_labels = _moderation_labels(
                self._client.detect_moderation_labels(
                    Image=image, MinConfidence=options.min_confidence
                )
            )
        if options.faces:
            analysis.faces = _faces(self._client.detect_faces(Image=image, Attributes=["DEFAULT"]))
        return analysis


def _box(box: dict) -> BoundingBox:
    return {
        "width": box.get("Width", 0.0),
        "height": box.get("Height", 0.0),
        "left": box.get("Left", 0.0),
        "top": box.get("Top", 0.0),
    }


def _confidence(value: Any) -> float:
    """A label confidence, which scores, sorts and next tokens rely on being 0-100 (Rekognition's
    documented range); anything else fails this image's message rather than the index."""
    confidence = round(float(value), 3)
    if not 0 <= confidence <= 100:  # also refuses NaN
        raise ValueError(f"label confidence {value!r} is not a number from 0 to 100")
    return confidence


def _has_name(label) -> bool:
    """A label can only be indexed under a name. Rekognition always sends one; a stand-in or a
    future response shape may not, and that one label is dropped rather than the image."""
    return isinstance(label, dict) and isinstance(label.get("Name"), str) and bool(label["Name"])


def _names(items: list) -> list[str]:
    """Parents, aliases and categories are ``[{"Name": ...}]``; plain strings are taken as the
    name itself, anything else is dropped."""
    names = (item.get("Name") if isinstance(item, dict) else item for item in items or [])
    return [name for name in names if isinstance(name, str) and name]


def _label(label: dict) -> Label:
    return {
        "name": label["Name"],
        "confidence": _confidence(label.get("Confidence", 0.0)),
        "parents": _names(label.get("Parents", [])),
        "aliases": _names(label.get("Aliases", [])),
        "categories": _names(label.get("Categories", [])),
        "instances": [
            {
                "confidence": round(float(instance.get("Confidence", 0.0)), 3),
                "bounding_box": _box(instance.get("BoundingBox", {})),
            }
            for instance in label.get("Instances", [])
        ],
    }


def _image_properties(properties: dict) -> ImageProperties:
    quality = properties.get("Quality", {})
    return {
        "quality": {
            "brightness": quality.get("Brightness"),
            "sharpness": quality.get("Sharpness"),
            "contrast": quality.get("Contrast"),
        },
        "dominant_colors": [
            {
                "hex": color.get("HexCode"),
                "css_color": color.get("CSSColor"),
                "simplified_color": color.get("SimplifiedColor"),
                "pixel_percent": color.get("PixelPercent"),
            }
            for color in properties.get("DominantColors", [])
        ],
    }


def _text_lines(response: dict) -> list[TextLine]:
    # Rekognition returns every line and every word; the lines already contain the words.
    return [
        {"text": detection["DetectedText"], "confidence": round(detection["Confidence"], 3)}
        for detection in response.get("TextDetections", [])
        if detection.get("Type") == "LINE"
    ]


def _moderation_labels(response: dict) -> list[ModerationLabel]:
    return [
        {
            "name": label["Name"],
            "parent": label.get("ParentName") or None,
            "confidence": round(label["Confidence"], 3),
        }
        for label in response.get("ModerationLabels", [])
    ]


def _faces(response: dict) -> list[Face]:
    return [
        {
            "confidence": round(face.get("Confidence", 0.0), 3),
            "bounding_box": _box(face.get("BoundingBox", {})),
        }
        for face in response.get("FaceDetails", [])
    ]
