"""The API's errors: what a service raises when a request cannot be answered.

Each carries its HTTP status and the JSON body's message (and, for a 400 about one parameter,
that parameter's name). chalicelib/api/http.py turns them into responses, in one place, so a
service never builds a Response and a route never decides a status.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, message: str, parameter: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameter = parameter

    def body(self) -> dict[str, str]:
        """The JSON body: ``{"error": ...}``, plus ``"parameter"`` when one is to blame."""
        body = {"error": self.message}
        if self.parameter is not None:
            body["parameter"] = self.parameter
        return body


class BadRequest(ApiError):
    """400: the request cannot be answered as asked."""

    def __init__(self, message: str, parameter: str | None = None):
        super().__init__(400, message, parameter)


class InvalidParameter(BadRequest):
    """400 naming the parameter (or ``body``, ``id``) whose value is refused."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message, parameter)


class NotFound(ApiError):
    """404: no such image, or a route this stage does not offer."""

    def __init__(self, message: str, parameter: str | None = None):
        super().__init__(404, message, parameter)


class ServiceUnavailable(ApiError):
    """503: a dependency (the search cluster) does not answer; the caller may try again."""

    def __init__(self, message: str):
        super().__init__(503, message)
