"""A request's image: its bytes (inline ``Bytes`` or an ``S3Object``), decoded and checked as
Rekognition checks it."""

import base64
import binascii
import io

from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import (
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidParameterException,
    InvalidS3ObjectException,
)

MAX_BYTES_SIZE = 5 * 1024 * 1024  # Rekognition's limits: 5 MB inline, 15 MB in S3
MAX_S3_OBJECT_SIZE = 15 * 1024 * 1024
MIN_SIDE = 80  # pixels, both width and height
# DetectLabels' largest image: 10,000 pixels on either side ("Guidelines and quotas in Amazon
# Rekognition", https://docs.aws.amazon.com/rekognition/latest/dg/limits.html).
MAX_LABELS_SIDE = 10_000
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


def decode(data: bytes, max_side: int | None = None) -> Image.Image:
    """An RGB image, turned upright by its EXIF orientation as Rekognition does; ``max_side``
    refuses a larger one (ImageTooLargeException)."""
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
    if max_side is not None and max(image.size) > max_side:
        raise ImageTooLargeException(
            f"Image is {image.width}x{image.height} pixels; neither side may exceed {max_side}"
        )
    image.draft("RGB", (DECODE_SIDE, DECODE_SIDE))
    try:
        return to_rgb(ImageOps.exif_transpose(image))
    except (OSError, SyntaxError, ValueError):  # truncated or corrupt image data
        raise InvalidImageFormatException("Request has unsupported image format") from None


SRGB = ImageCms.createProfile("sRGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels as the models expect them.

    A CMYK JPEG goes through its embedded ICC profile when it has one: Pillow's own CMYK to
    RGB formula ignores the profile and gives colours far from the RGB twin's. (RGB profiles
    such as Adobe RGB are left alone: the classifier was trained on pixels decoded that way.)
    Transparent pixels are composited on white rather than on whatever colour they hide;
    grey, palette and 16-bit images are widened to RGB."""
    if image.mode == "CMYK" and image.info.get("icc_profile"):
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
            converted = ImageCms.profileToProfile(image, profile, SRGB, outputMode="RGB")
            if converted is not None:  # None only for a conversion in place
                return converted
        except (ImageCms.PyCMSError, OSError):
            pass  # an unreadable profile: Pillow's formula below
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit grey: Pillow's convert("RGB") clips at 255 instead of scaling.
        return image.point(lambda value: value / 256).convert("L").convert("RGB")
    return image.convert("RGB")
