"""A reverse proxy on 127.0.0.1 that authorizes every request to one upstream base URL.

The browser (or curl) talks plain HTTP to the proxy; the proxy forwards each request to
``<upstream base><path>`` with the signer's headers, and streams the answer back. Nothing on
AWS is opened: the user's own credentials sign, and only this machine can reach the proxy.

Because a signing proxy turns any request that reaches it into one made with the user's
rights, it accepts only requests addressed to itself: the Host must be the proxy's (a
DNS-rebinding page cannot use it) and cross-site requests are refused (another site open in
the same browser cannot use it either).
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import certifi
import urllib3
from urllib3.response import HTTPResponse

# Signed requests are read whole (SigV4 hashes the payload), so they are capped.
MAX_SIGNED_BODY_BYTES = 10 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
MAX_DRAINED_BYTES = 64 * 1024 * 1024  # an oversized body up to this size is read and dropped
MAX_REWRITTEN_BYTES = 1024 * 1024  # the presigned upload form is a few hundred bytes
UPLOAD_PATH = "/_upload/"
MAX_UPLOAD_TARGETS = 256
# RFC 9110 section 7.6.1, plus the non-standard Proxy-Connection that some clients send.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
NO_BODY_STATUSES = {HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED}


class RunningProxy:
    """A proxy serving in a background thread; ``close()`` (or leaving ``with``) stops it."""

    def __init__(self, server: _ProxyServer):
        self.server = server
        self.url = server.url
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.1,), name="proxy", daemon=True
        )  # a short poll interval: close() returns quickly
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join()
        self.server.server_close()
        self.server.pool.clear()

    def wait(self) -> None:
        """Block until ``close()`` is called (from another thread or a signal handler)."""
        while self._thread.is_alive():
            self._thread.join(0.5)  # short joins keep Ctrl-C working

    def __enter__(self) -> RunningProxy:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def serve(
    upstream: str,
    signer,
    port: int = 0,
    *,
    uploads_path: str | None = "/uploads",
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
    verbose: bool = False,
) -> RunningProxy:
    """Start a proxy on ``http://127.0.0.1:<port>`` (0: a free port) in front of ``upstream``.

    ``signer`` comes from ``localdev.proxy.make_signer``. The JSON answer to ``POST
    <uploads_path>`` (a presigned S3 POST form) gets its ``url`` replaced by a proxy path, so the
    browser's upload reaches S3 through the proxy and the bucket needs no CORS rule for it.
    """
    server = _ProxyServer(
        port,
        upstream=upstream,
        signer=signer,
        uploads_path=uploads_path,
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        verbose=verbose,
    )
    return RunningProxy(server)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port, *, upstream, signer, uploads_path, timeout, verbose):
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the upstream must be an http(s) URL, got {upstream!r}")
        # Loopback only, by construction: there is no parameter that could widen it.
        super().__init__(("127.0.0.1", port), _Handler)
        self.port = self.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.local_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.upstream = parts
        self.prefix = parts.path.rstrip("/")  # API Gateway's stage, e.g. /api
        self.signer = signer
        self.uploads_path = uploads_path
        self.verbose = verbose
        self.pool = urllib3.PoolManager(
            maxsize=8, retries=False, timeout=timeout, ca_certs=certifi.where()
        )
        self._upload_targets: dict[str, str] = {}
        self._lock = threading.Lock()

    def upstream_url(self, target: str) -> str:
        """The upstream URL for a request target (path and query).

        The URL is put in the form SigV4 canonicalizes to (unreserved characters and %XX
        escapes only, the query re-encoded with %20 for spaces), so that the signature botocore
        computes is the one AWS recomputes from what arrives.
        """
        path, _, query = target.partition("?")
        path = quote(path, safe="/%-_.~")
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(pairs, quote_via=quote, safe="-_.~")
        base = self.upstream
        return urlunsplit((base.scheme, base.netloc, self.prefix + path, query, ""))

    def local_location(self, value: str) -> str:
        """A Location on the upstream, as a path on the proxy (so redirects stay here)."""
        parts = urlsplit(value)
        if parts.netloc:
            if parts.netloc.lower() != self.upstream.netloc.lower():
                return value  # somewhere else (S3, a sign-in page): leave it
            value = urlunsplit(("", "", parts.path, parts.query, parts.fragment))
        return self._strip_prefix(value)

    def local_cookie(self, value: str) -> str:
        """A Set-Cookie the browser keeps for http://127.0.0.1: no Domain, no Secure."""
        name_value, *attributes = (part.strip() for part in value.split(";"))
        kept = [name_value]
        for attribute in attributes:
            key, _, setting = attribute.partition("=")
            key = key.strip().lower()
            if key in ("domain", "secure"):
                continue
            if key == "samesite" and setting.strip().lower() == "none":
                attribute = "SameSite=Lax"  # None requires Secure
            elif key == "path":
                attribute = "Path=" + self._strip_prefix(setting.strip())
            kept.append(attribute)
        return "; ".join(kept)

    def _strip_prefix(self, path: str) -> str:
        prefix = self.prefix
        if prefix and (path == prefix or path.startswith((prefix + "/", prefix + "?"))):
            return path[len(prefix) :] or "/"
        return path

    def allow_upload(self, url: str) -> str:
        """Remember a presigned upload URL; returns the token of its proxy path."""
        token = hashlib.sha256(url.encode()).hexdigest()[:32]
        with self._lock:
            if len(self._upload_targets) >= MAX_UPLOAD_TARGETS:
                self._upload_targets.pop(next(iter(self._upload_targets)))
            self._upload_targets[token] = url
        return token

    def upload_target(self, token: str) -> str | None:
        with self._lock:
            return self._upload_targets.get(token)


class _BodyReader:
    """Exactly ``length`` bytes of the client's request body, read as they are sent on."""

    def __init__(self, stream, length: int):
        self._stream = stream
        self._left = length

    def read(self, size: int = -1) -> bytes:
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read(size) if size else b""
        self._left -= len(data)
        return data


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked answers when the length is unknown
    timeout = 120  # seconds: idle keep-alive connections (and stalled clients) are let go
    server: _ProxyServer

    def do_GET(self):
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def log_message(self, format, *args):
        if self.server.verbose:
            sys.stderr.write(f"proxy: {format % args}\n")

    def handle_expect_100(self):
        # curl announces large bodies with Expect: 100-continue: refuse before they are sent.
        if not self.path.startswith(UPLOAD_PATH) and self._declared_length() > (
            MAX_SIGNED_BODY_BYTES
        ):
            self._refuse_too_large()
            return False
        return super().handle_expect_100()

    # -- the request ---------------------------------------------------------------------------

    def _handle(self) -> None:
        refusal = self._refusal()
        if refusal:
            self._send_json(*refusal)
        elif self.path.startswith(UPLOAD_PATH):
            self._forward_upload(self.path[len(UPLOAD_PATH) :])
        else:
            self._forward()

    def _refusal(self) -> tuple[int, str] | None:
        if not self.path.startswith("/"):
            return 400, "only paths are accepted here: this is not an open proxy"
        host = (self.headers.get("Host") or "").lower()
        if host not in self.server.local_hosts:
            return 403, f"this proxy only answers requests for {self.server.url}"
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() not in {
            f"http://{local}" for local in self.server.local_hosts
        }:
            return 403, "cross-origin requests are refused"
        # Browsers say where a request comes from; only this origin's own requests, and pages
        # the user opens directly (a bookmark, a link clicked elsewhere), are served.
        fetch_site = self.headers.get("Sec-Fetch-Site", "same-origin")
        if fetch_site not in ("same-origin", "none") and (
            self.headers.get("Sec-Fetch-Mode") != "navigate"
        ):
            return 403, f"{fetch_site} requests are refused"
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # the body is not read
            return 411, "send the body with a Content-Length"
        if self._declared_length() < 0:
            self.close_connection = True
            return 400, "invalid Content-Length"
        return None

    def _declared_length(self) -> int:
        try:
            return int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return -1

    def _refuse_too_large(self, drain: bool = False) -> None:
        # Read (and drop) what the client is sending anyway: a client that is still writing
        # when the connection closes sees a reset instead of the 413.
        left = self._declared_length() if drain else 0
        while 0 < left <= MAX_DRAINED_BYTES and (data := self.rfile.read(min(left, CHUNK_BYTES))):
            left -= len(data)
        self.close_connection = True
        limit = MAX_SIGNED_BODY_BYTES // (1024 * 1024)
        self._send_json(413, f"request bodies are limited to {limit} MiB")

    def _forward(self) -> None:
        length = self._declared_length()
        if length > MAX_SIGNED_BODY_BYTES:
            return self._refuse_too_large(drain=True)
        body = self.rfile.read(length) if length else b""
        server = self.server
        url = server.upstream_url(self.path)
        signer = server.signer
        drop = HOP_BY_HOP | self._connection_tokens(self.headers) | signer.replaces
        headers: dict[str, str] = {}  # lower-case names: one entry per header
        for name, value in self.headers.items():
            name = name.lower()
            if name in drop or name in ("host", "content-length"):
                continue
            separator = "; " if name == "cookie" else ", "
            headers[name] = f"{headers[name]}{separator}{value}" if name in headers else value
        headers["host"] = server.upstream.netloc  # the host that is signed, not the proxy's
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["content-length"] = str(len(body))
        for name, value in signer.sign(self.command, url, headers, body).items():
            headers[name.lower()] = value
        rewrite = server.uploads_path is not None and (
            self.command == "POST" and self.path.split("?")[0] == server.uploads_path
        )
        self._relay(self.command, url, headers, body, rewrite_upload_form=rewrite)

    def _forward_upload(self, token: str) -> None:
        """The browser's multipart POST of a presigned form, to the S3 URL it was made for.

        It is sent unchanged and unsigned: the form's fields carry S3's authorization. Only URLs
        that the API handed out through this proxy are reachable this way.
        """
        target = self.server.upload_target(token)
        if self.command != "POST" or target is None:
            self.close_connection = True
            return self._send_json(404, "no such upload: ask POST /uploads for a form first")
        headers = {"Content-Length": str(self._declared_length())}
        if "Content-Type" in self.headers:
            headers["Content-Type"] = self.headers["Content-Type"]
        body = _BodyReader(self.rfile, self._declared_length())
        self._relay("POST", target, headers, body, rewrite_upload_form=False)

    # -- the answer ----------------------------------------------------------------------------

    def _relay(self, method, url, headers, body, *, rewrite_upload_form: bool) -> None:
        try:
            response = self.server.pool.urlopen(
                method,
                url,
                body=body or None,  # b"" would add a Content-Length: 0 to a GET
                headers=headers,
                redirect=False,
                preload_content=False,
                decode_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            self.close_connection = True
            host = urlsplit(url).netloc
            reason = str(error).split(": ", 1)[-1]  # without urllib3's object and pool names
            return self._send_json(502, f"the upstream {host} cannot be reached: {reason}")
        self.log_message('"%s" %s (upstream)', self.requestline, response.status)
        try:
            if rewrite_upload_form and response.status == 200:
                self._send_upload_form(response)
            else:
                self._stream(response)
        except OSError as error:  # the client went away, or the upstream broke off
            self.close_connection = True
            self.log_message("relay of %s broke off: %s", url, error)
            response.close()
        finally:
            response.release_conn()

    def _response_headers(self, response: HTTPResponse) -> list[tuple[str, str]]:
        drop = HOP_BY_HOP | self._connection_tokens(response.headers)
        headers = []
        for name, value in response.headers.iteritems():
            lower = name.lower()
            if lower in drop:
                continue
            if lower == "location":
                value = self.server.local_location(value)
            elif lower == "set-cookie":
                value = self.server.local_cookie(value)
            headers.append((name, value))
        return headers

    def _stream(self, response: HTTPResponse) -> None:
        headers = self._response_headers(response)
        has_body = self.command != "HEAD" and response.status not in NO_BODY_STATUSES
        known_length = any(name.lower() == "content-length" for name, _ in headers)
        chunked = has_body and not known_length
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        self._send_head(response.status, response.reason, headers)
        if not has_body:
            return
        for chunk in response.stream(CHUNK_BYTES, decode_content=False):
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _send_upload_form(self, response: HTTPResponse) -> None:
        data = response.read(MAX_REWRITTEN_BYTES + 1, decode_content=True)
        try:
            form = json.loads(data) if len(data) <= MAX_REWRITTEN_BYTES else None
        except ValueError:
            form = None
        if isinstance(form, dict) and str(form.get("url", "")).startswith(("https:", "http:")):
            # A path on this origin: the page's fetch() stays same-origin, whatever host name
            # (127.0.0.1 or localhost) the browser used.
            form["url"] = UPLOAD_PATH + self.server.allow_upload(form["url"])
            data = json.dumps(form).encode()
        elif len(data) > MAX_REWRITTEN_BYTES:
            self.close_connection = True
            return self._send_json(502, "the upload form answer is too large")
        skip = {"content-length", "content-encoding"}
        headers = [(n, v) for n, v in self._response_headers(response) if n.lower() not in skip]
        headers.append(("Content-Length", str(len(data))))
        self._send_head(response.status, response.reason, headers)
        self.wfile.write(data)

    def _send_head(self, status: int, reason: str, headers: list[tuple[str, str]]) -> None:
        self.send_response_only(status, reason)  # no Server/Date of our own: the upstream's
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()

    def _send_json(self, status: int, message: str) -> None:
        data = json.dumps({"error": message}).encode()
        self.log_message('"%s" %s %s', self.requestline, status, message)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        if self.close_connection:
            headers.append(("Connection", "close"))
        self._send_head(status, HTTPStatus(status).phrase, headers)
        if self.command != "HEAD":
            self.wfile.write(data)

    @staticmethod
    def _connection_tokens(headers) -> set[str]:
        """Headers named in Connection are hop-by-hop too."""
        tokens = (headers.get("Connection") or "").split(",")
        return {token.strip().lower() for token in tokens if token.strip()}
