"""Chalice's local HTTP server, as the local stack serves it.

Two changes to chalice.local's request handler: no access-log line per request unless asked
for (they buried `make run`'s own output), and a 404 naming the routes for a path the app has
no route for, where API Gateway (and so chalice) answers 403 "Missing Authentication Token",
which sends people looking for a credentials problem. The most common such path is the
deployed stage's `/api` prefix copied onto the local URL.
"""

from __future__ import annotations

import functools
import json

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, ForbiddenError, LocalDevServer, create_local_server

NO_ROUTE = b"Missing Authentication Token"


class LocalApiHandler(ChaliceRequestHandler):
    access_log = False
    routes: tuple[str, ...] = ()

    def log_message(self, format, *args):
        if self.access_log:
            super().log_message(format, *args)

    def _send_error_response(self, error) -> None:
        if isinstance(error, ForbiddenError) and NO_ROUTE in (error.body or b""):
            path = self.path.split("?", 1)[0]
            message = (
                f"no route for {self.command} {path}: the local API serves "
                f"{', '.join(self.routes)} at its root, with no stage prefix such as /api"
            )
            body = json.dumps({"error": message}).encode()
            self._send_http_response(404, {"Content-Type": "application/json"}, body)
            return
        super()._send_error_response(error)


def local_server(app, host: str, port: int, access_log: bool = False) -> LocalDevServer:
    """Bound at once (raises OSError when the port is taken); serve with serve_forever()."""
    config = Config.create(chalice_stage="dev", app_name=app.app_name)
    server = create_local_server(app, config, host, port)
    handler = type(
        "Handler",
        (LocalApiHandler,),
        {"access_log": access_log, "routes": tuple(sorted(app.routes))},
    )
    # The server builds one handler per request from this factory.
    server.server.RequestHandlerClass = functools.partial(handler, app_object=app, config=config)
    return server
