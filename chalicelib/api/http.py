"""HTTP plumbing for the routes: query parameters in, JSON errors out, never a stack trace.

The one place where errors become statuses (json_api):

* an ApiError (chalicelib/api/errors.py), raised by parsing or a service: its own status and
  body (400 naming the parameter, 404, 503);
* QueryRejected (the store refused a read, a cluster 400): 400, logged as a validation gap;
* StoreUnavailable: 503, logged with its reason.

The warnings go to the project's logger, which chalicelib/logs.py configures (JSON, LOG_LEVEL,
the request id) when each invocation starts.
"""

from __future__ import annotations

import functools
import logging

from chalice import CORSConfig, IAMAuthorizer, Response

from chalicelib.api.errors import ApiError, BadRequest, InvalidParameter, ServiceUnavailable
from chalicelib.api.params import NO_PARAMETERS, ParameterTable
from chalicelib.logs import LOGGER_NAME
from chalicelib.settings import Settings
from chalicelib.store.base import QueryRejected, StoreUnavailable

UNAVAILABLE_MESSAGE = "the search cluster is unavailable; try again later"
REJECTED_MESSAGE = "the search cluster rejected the query; change the parameters"

_log = logging.getLogger(LOGGER_NAME)


def error_response(error: ApiError) -> Response:
    return Response(
        body=error.body(), status_code=error.status, headers={"Content-Type": "application/json"}
    )


def json_api(app, parameters: ParameterTable | None = None):
    """Validates the query string and maps every expected error to its JSON status.

    With a ``parameters`` table the view receives the parsed request object first, then the
    URL's own parameters; without one it receives only the latter, and any query parameter is
    refused. The table's parameters are kept on the view (``query_parameters``) so the OpenAPI
    document is generated from them.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(**url_parameters):
            try:
                query = query_values(app.current_request)
                if parameters is None:
                    NO_PARAMETERS.parse(query)
                    return view(**url_parameters)
                return view(parameters.parse(query), **url_parameters)
            except (ApiError, QueryRejected, StoreUnavailable) as error:
                return error_response(as_api_error(error, app.current_request))

        # Read by localdev.openapi; functools.wraps' type has no room for it.
        query_parameters = parameters.params if parameters is not None else ()
        wrapper.query_parameters = query_parameters  # type: ignore[attr-defined]
        return wrapper

    return decorate


def as_api_error(error: ApiError | QueryRejected | StoreUnavailable, request) -> ApiError:
    """The store's own errors as the API answers them, logged; an ApiError as it is."""
    if isinstance(error, QueryRejected):
        # Validation should have refused the request: say which one got through.
        _log.warning(
            "search cluster rejected a validated query",
            extra={"reason": str(error), "query": query_values(request)},
        )
        return BadRequest(REJECTED_MESSAGE)
    if isinstance(error, StoreUnavailable):
        _log.warning("search cluster unavailable", extra={"reason": str(error)})
        return ServiceUnavailable(UNAVAILABLE_MESSAGE)
    return error


def request_body(request) -> bytes:
    """The raw request body. API Gateway hands Lambda the body as a JSON string, which can hold
    a lone surrogate (a ``\\ud800`` escape) that no UTF-8 encoder takes."""
    try:
        return request.raw_body or b""
    except (UnicodeEncodeError, ValueError):  # binascii.Error for a bad base64 body
        raise InvalidParameter("body", "the request body is not UTF-8 text") from None


def query_values(request) -> dict[str, list[str]]:
    """Every value of every query parameter (API Gateway delivers repeated ones as a list)."""
    params = request.query_params  # None without a query string
    if not params:
        return {}
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
