"""Rekognition's own error codes, raised by the request handling and sent as JSON 1.1 errors."""


class RekognitionError(Exception):
    """An error Rekognition would answer with: HTTP ``status`` and
    ``{"__type": code, "Code": code, "Message": ..., "Logref": ...}``."""

    code = "InternalServerError"
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidParameterException(RekognitionError):
    code = "InvalidParameterException"
    status = 400


class InvalidImageFormatException(RekognitionError):
    code = "InvalidImageFormatException"
    status = 400


class InvalidS3ObjectException(RekognitionError):
    code = "InvalidS3ObjectException"
    status = 400


class ImageTooLargeException(RekognitionError):
    code = "ImageTooLargeException"
    status = 400


class UnknownOperationException(RekognitionError):
    """What AWS JSON services answer for an X-Amz-Target they do not serve."""

    code = "UnknownOperationException"
    status = 400


class SerializationException(RekognitionError):
    """A body that is not a JSON object: AWS JSON services refuse it before any validation."""

    code = "SerializationException"
    status = 400


class MissingAuthenticationTokenException(RekognitionError):
    """No ``Authorization`` header (nor a presigned query): an unsigned request."""

    code = "MissingAuthenticationTokenException"
    status = 400


class IncompleteSignatureException(RekognitionError):
    """An ``Authorization`` header that is not a complete SigV4 signature."""

    code = "IncompleteSignatureException"
    status = 400
