"""A moto server that ``chalice deploy`` can deploy to, in-process or standalone.

moto 5.2.5 rejects the REST API that chalice imports in two ways, both unrelated to what is
being tested here:

* ``import_rest_api`` reads ``info.description``, which chalice's Swagger document omits
  (KeyError -> HTTP 500);
* ``put_rest_api`` accepts only OpenAPI 3 documents, and chalice writes Swagger 2.0.

The shim below adds an empty description and relabels the document as OpenAPI 3 before moto
parses it: moto only reads ``paths``, the methods and their ``x-amazon-apigateway-integration``,
which are the same in both versions. Nothing else about moto changes.

Standalone (for a manual run of python -m localdev.aws against it):

    python -m tests.deploy.moto_server --port 5055
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Iterator

from moto.apigateway.models import APIGatewayBackend
from moto.server import ThreadedMotoServer

_lock = threading.Lock()


def _as_openapi3(document: dict) -> dict:
    document = dict(document)
    if "swagger" in document:
        document.pop("swagger")
        document["openapi"] = "3.0.1"
    document["info"] = {"description": "", **document.get("info", {})}
    return document


@contextlib.contextmanager
def swagger_shim() -> Iterator[None]:
    with _lock:
        original_import = APIGatewayBackend.import_rest_api
        original_put = APIGatewayBackend.put_rest_api

        def import_rest_api(self, api_doc, fail_on_warnings):
            return original_import(self, _as_openapi3(api_doc), fail_on_warnings)

        def put_rest_api(self, function_id, api_doc, fail_on_warnings, mode="merge"):
            return original_put(self, function_id, _as_openapi3(api_doc), fail_on_warnings, mode)

        APIGatewayBackend.import_rest_api = import_rest_api
        APIGatewayBackend.put_rest_api = put_rest_api
    try:
        yield
    finally:
        with _lock:
            APIGatewayBackend.import_rest_api = original_import
            APIGatewayBackend.put_rest_api = original_put


@contextlib.contextmanager
def running_moto(port: int = 0) -> Iterator[str]:
    """Yields the server's URL (127.0.0.1, a free port unless one is given)."""
    with swagger_shim():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            host, bound_port = server.get_host_and_port()
            yield f"http://{host}:{bound_port}"
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args()
    with running_moto(args.port) as url:
        print(f"moto server on {url}; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
