"""A stand-in for the saved-objects import endpoint of OpenSearch Dashboards / Kibana.

No Dashboards server can run here (no AWS domain, no OpenSearch Dashboards distribution), so
this one checks what the real endpoint checks before it imports anything and records the
request: the path, ``overwrite=true``, the ``osd-xsrf`` header (Dashboards answers 400 without
it), a multipart body whose ``file`` part is an ``.ndjson`` file of saved objects (one JSON
object with ``id``, ``type`` and ``attributes`` per line). It answers like the real one:
``{"success": true, "successCount": N}``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

IMPORT_PATH = "/api/saved_objects/_import"


@dataclass
class ImportRequest:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    filename: str | None
    content: bytes


@dataclass
class FakeDashboards:
    url: str
    imports: list[ImportRequest] = field(default_factory=list)


def _handler(state: FakeDashboards):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if parts.path != IMPORT_PATH:
                self._answer(404, {"statusCode": 404, "error": "Not Found"})
                return
            if self.headers.get("osd-xsrf") is None:
                self._answer(
                    400, {"statusCode": 400, "message": "Request must contain a osd-xsrf header."}
                )
                return
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode() + body
            )
            files = (
                [
                    p
                    for p in message.iter_parts()
                    if p.get_param("name", header="content-disposition") == "file"
                ]
                if message.is_multipart()
                else []
            )
            if not files:
                self._answer(
                    400, {"statusCode": 400, "message": "[request body.file]: expected value"}
                )
                return
            part = files[0]
            content = part.get_payload(decode=True)
            filename = part.get_filename()
            state.imports.append(
                ImportRequest(
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    filename=filename,
                    content=content,
                )
            )
            if not (filename or "").endswith(".ndjson"):
                self._answer(415, {"statusCode": 415, "message": "Unsupported file extension"})
                return
            errors, count = [], 0
            for number, line in enumerate(content.decode().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    obj = None
                if isinstance(obj, dict) and {"id", "type", "attributes"} <= set(obj):
                    count += 1
                else:
                    errors.append({"line": number, "error": {"type": "invalid"}})
            if errors:
                self._answer(200, {"success": False, "successCount": count, "errors": errors})
            else:
                self._answer(200, {"success": True, "successCount": count})

    return Handler


@contextlib.contextmanager
def running_fake_dashboards(port: int = 0) -> Iterator[FakeDashboards]:
    server = ThreadingHTTPServer(("127.0.0.1", port), None)
    state = FakeDashboards(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="fake saved-objects import endpoint")
    parser.add_argument("--port", type=int, default=5601)
    with running_fake_dashboards(parser.parse_args().port) as fake:
        print(f"fake Dashboards on {fake.url}; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
