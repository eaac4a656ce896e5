"""HTTP plumbing for the routes: query parameters in, JSON errors out, never a stack trace.

The one place where errors become statuses:

* InvalidParameter (chalicelib.api.params): 400 naming the parameter;
* QueryRejected (the store refused a read, a cluster 400): 400, logged as a validation gap;
* StoreUnavailable: 503, logged with its reason.

The warnings go to the project's logger, which chalicelib/logs.py configures (JSON, LOG_LEVEL,
the request id) when each invocation starts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

from chalice import CORSConfig, IAMAuthorizer, Response

from chalicelib.api.params import InvalidParameter, Param, parse_params
from chalicelib.logs import LOGGER_NAME
from chalicelib.settings import Settings
from chalicelib.store.base import QueryRejected, StoreUnavailable

UNAVAILABLE_MESSAGE = "the search cluster is unavailable; try again later"
REJECTED_MESSAGE = "the search cluster rejected the query; change the parameters"

_log = logging.getLogger(LOGGER_NAME)


def error_response(status_code: int, message: str, parameter: str | None = None) -> Response:
    body = {"error": message}
    if parameter is not None:
        body["parameter"] = parameter
    return Response(
        body=body, status_code=status_code, headers={"Content-Type": "application/json"}
    )


def json_api(app, query_parameters: Sequence[Param] = ()):
    """Validates the query string against ``query_parameters`` and maps expected errors to JSON.

    The view receives the parsed parameters first, then the URL's own parameters. The table is
    kept on the view (``query_parameters``) so the OpenAPI document is generated from it.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(**url_parameters):
            try:
                params = parse_params(query_parameters, query_values(app.current_request))
                return view(params, **url_parameters)
            except InvalidParameter as error:
                return error_response(400, error.message, error.parameter)
            except QueryRejected as error:
                # Validation should have refused the request: say which one got through.
                _log.warning(
                    "search cluster rejected a validated query",
                    extra={"reason": str(error), "query": query_values(app.current_request)},
                )
                return error_response(400, REJECTED_MESSAGE)
            except StoreUnavailable as error:
                _log.warning("search cluster unavailable", extra={"reason": str(error)})
                return error_response(503, UNAVAILABLE_MESSAGE)

        wrapper.query_parameters = tuple(query_parameters)
        return wrapper

    return decorate


def request_body(request) -> bytes:
    """The raw request body. API Gateway hands Lambda the body as a JSON string, which can hold
    a lone surrogate (a ``\\ud800`` escape) that no UTF-8 encoder takes."""
    try:
        return request.raw_body or b""
    except (UnicodeEncodeError, ValueError):  # binascii.Error for a bad base64 body
        raise InvalidParameter("body", "the request body is not UTF-8 text") from None


def query_values(request) -> dict[str, list[str]]:
    """Every value of every query parameter (API Gateway delivers repeated ones as a list)."""
    params = request.query_params or {}
    return {name: params.getlist(name) for name in params}


def route_options(settings: Settings) -> dict:
    """Authorization and CORS for every route, chosen per stage in .chalice/config.json."""
    options: dict = {}
    if settings.api_auth == "iam":
        options["authorizer"] = IAMAuthorizer()
    elif settings.api_auth == "api_key":
        # Chalice only marks the methods as requiring a key; the deploy tooling creates the key
        # and the usage plan that API Gateway needs to accept it.
        options["api_key_required"] = True
    if settings.cors_allow_origin:
        options["cors"] = CORSConfig(allow_origin=settings.cors_allow_origin, max_age=600)
    return options
