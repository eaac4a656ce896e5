"""A request's image: its bytes (inline ``Bytes`` or an ``S3Object``), decoded and checked as
Rekognition checks it."""

import base64
import binascii
import io

from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import (
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidParameterException,
    InvalidS3ObjectException,
)

MAX_BYTES_SIZE = 5 * 1024 * 1024  # Rekognition's limits: 5 MB inline, 15 MB in S3
MAX_S3_OBJECT_SIZE = 15 * 1024 * 1024
MIN_SIDE = 80  # pixels, both width and height
# JPEGs are decoded at the smallest 1/2, 1/4 or 1/8 scale that still covers this: the
# models never look closer, and a 12-megapixel photo decodes several times faster.
DECODE_SIDE = 1024


def image_bytes(image: object, s3_client) -> bytes:
    """The bytes of a request's ``Image`` member."""
    if not isinstance(image, dict) or len(image.keys() & {"Bytes", "S3Object"}) != 1:
        raise InvalidParameterException("Image must have exactly one of Bytes or S3Object")
    if "Bytes" in image:
        return inline_bytes(image["Bytes"])
    return s3_object_bytes(image["S3Object"], s3_client)


def inline_bytes(encoded: object) -> bytes:
    if not isinstance(encoded, str):
        raise InvalidParameterException("Image.Bytes must be a base64 string")
    # The encoded length bounds the decoded one: refuse a huge string before decoding it.
    if len(encoded) > (MAX_BYTES_SIZE + 2) // 3 * 4:
        raise ImageTooLargeException("Image size is too large: Bytes are limited to 5 MB")
    try:
        data = base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise InvalidParameterException(f"Image.Bytes is not valid base64: {error}") from None
    if len(data) > MAX_BYTES_SIZE:
        raise ImageTooLargeException("Image size is too large: Bytes are limited to 5 MB")
    if not data:
        raise InvalidParameterException("Image.Bytes is empty")
    return data


def s3_object_bytes(s3_object: object, s3_client) -> bytes:
    if not isinstance(s3_object, dict) or not all(
        isinstance(s3_object.get(key), str) and s3_object[key] for key in ("Bucket", "Name")
    ):
        raise InvalidParameterException("S3Object needs a Bucket and a Name")
    request = {"Bucket": s3_object["Bucket"], "Key": s3_object["Name"]}
    if s3_object.get("Version"):
        request["VersionId"] = s3_object["Version"]
    try:
        response = s3_client.get_object(**request)
    except (ClientError, BotoCoreError) as error:
        # Rekognition gives one answer for a missing bucket, key or version and for no access.
        raise InvalidS3ObjectException(
            f"Unable to get object metadata from S3. Check object key, region and/or access "
            f"permissions. ({error})"
        ) from None
    body = response["Body"]
    try:
        if response["ContentLength"] > MAX_S3_OBJECT_SIZE:
            raise ImageTooLargeException("Image size is too large: S3 objects are limited to 15 MB")
        return body.read()
    finally:
        body.close()


def decode(data: bytes) -> Image.Image:
    """An RGB image, turned upright by its EXIF orientation as Rekognition does."""
    try:
        image = Image.open(io.BytesIO(data), formats=["JPEG", "PNG"])
    except UnidentifiedImageError:
        raise InvalidImageFormatException("Request has unsupported image format") from None
    except Image.DecompressionBombError as error:
        raise ImageTooLargeException(f"Image has too many pixels: {error}") from None
    if min(image.size) < MIN_SIDE:
        raise InvalidParameterException(
            f"Image is {image.width}x{image.height} pixels; both sides must be at least {MIN_SIDE}"
        )
    image.draft("RGB", (DECODE_SIDE, DECODE_SIDE))
    try:
        return ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, SyntaxError, ValueError):  # truncated or corrupt image data
        raise InvalidImageFormatException("Request has unsupported image format") from None
