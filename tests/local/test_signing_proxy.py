"""The signing proxy (localdev.proxy) for real, on loopback only.

Behind the proxy stands ``VerifyingUpstream``: a stand-in for API Gateway that recomputes every
request's SigV4 signature with botocore from the same test credentials (403 when it differs,
as API Gateway answers), records what arrived, and passes valid requests under its ``/api``
stage prefix on to the Chalice app of the local stack.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import boto3
import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials

from localdev import cli
from localdev.proxy import default_auth, infer_region, make_signer, serve
from localdev.proxy.server import MAX_SIGNED_BODY_BYTES
from localdev.run import SAMPLES
from localdev.stack import PROJECT_ROOT

REGION = "eu-west-1"
SERVICE = "execute-api"
ACCESS_KEY = "AKIDPROXYTEST"
SECRET_KEY = "proxy-test-secret"
SESSION_TOKEN = "proxy-test-session-token"
STREAM_BYTES = 8 * 1024 * 1024
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<names>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


def static_session(secret_key: str = SECRET_KEY, token: str | None = SESSION_TOKEN):
    return boto3.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        region_name=REGION,
    )


def iam_signer(**session_options):
    return make_signer(
        "iam", service=SERVICE, region=REGION, session=static_session(**session_options)
    )


# -- the verifying upstream ------------------------------------------------------------------------


def signature_problem(method, target, headers, body, secrets: dict[str, str]) -> str | None:
    """Why the request's SigV4 signature is wrong, or None when it is right.

    The canonical request is rebuilt from what arrived: the same method, path and query, the
    headers listed in SignedHeaders with their received values, the body and X-Amz-Date.
    """
    match = _AUTHORIZATION.fullmatch(headers.get("Authorization", ""))
    if not match:
        return f"no SigV4 Authorization header: {headers.get('Authorization')!r}"
    if match["key"] not in secrets:
        return f"unknown access key {match['key']}"
    if (match["region"], match["service"]) != (REGION, SERVICE):
        return f"signed for {match['region']}/{match['service']}"
    amz_date = headers.get("X-Amz-Date", "")
    if amz_date[:8] != match["date"]:
        return "X-Amz-Date does not match the credential scope"
    signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if abs((datetime.now(UTC) - signed_at).total_seconds()) > 300:
        return "the signature is older than five minutes"
    names = match["names"].split(";")
    if "host" not in names or "x-amz-date" not in names:
        return f"host and x-amz-date must be signed, got {names}"
    # botocore takes a present X-Amz-Content-SHA256 as the payload's hash: check it is.
    declared = headers.get("X-Amz-Content-SHA256")
    if declared is not None and declared != hashlib.sha256(body).hexdigest():
        return "X-Amz-Content-SHA256 is not the body's hash"
    request = AWSRequest(
        method=method,
        url=f"http://{headers['Host']}{target}",
        data=body,
        headers={name: headers[name] for name in names},
    )
    request.context["timestamp"] = amz_date
    credentials = Credentials(
        match["key"], secrets[match["key"]], headers.get("X-Amz-Security-Token")
    )
    auth = SigV4Auth(credentials, SERVICE, REGION)
    expected = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, match["signature"]):
        return "signature mismatch"
    return None


@dataclass
class Seen:
    method: str
    target: str
    headers: Message
    body: bytes
    problem: str | None


@dataclass
class VerifyingUpstream:
    """An API Gateway stand-in on 127.0.0.1: ``<url>/api/...`` reaches ``<backend>/...``.

    ``check_signatures=False`` accepts every request (for the api_key and none modes).
    Without a backend, valid requests get an echo of what arrived.
    """

    backend: str | None = None
    check_signatures: bool = True
    secrets: dict[str, str] = field(default_factory=lambda: {ACCESS_KEY: SECRET_KEY})
    seen: list[Seen] = field(default_factory=list)
    stream_released: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> VerifyingUpstream:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = self.headers  # an email.message.Message: names case-insensitive
                problem = None
                if upstream.check_signatures:
                    problem = signature_problem(
                        self.command, self.path, headers, body, upstream.secrets
                    )
                upstream.seen.append(Seen(self.command, self.path, headers, body, problem))
                if problem:
                    return self.answer(403, {"message": problem})
                if self.path.startswith("/api/stream"):
                    return self.stream(chunked="chunked" in self.path)
                if self.path.startswith("/api/redirect"):
                    return self.answer(302, {}, self.redirect_headers())
                if upstream.backend is None:
                    return self.answer(200, {"path": self.path, "body_bytes": len(body)})
                self.forward(body)

            do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

            def forward(self, body):
                backend = urlsplit(upstream.backend)
                connection = http.client.HTTPConnection(backend.netloc, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                connection.request(self.command, self.path.removeprefix("/api"), body, headers)
                response = connection.getresponse()
                data = response.read()
                self.send_response_only(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            def stream(self, chunked: bool):
                """Half the body, then a pause until the client has seen it through the proxy:
                a proxy that buffered whole answers would never deliver the first half."""
                self.send_response_only(200)
                self.send_header("Content-Type", "application/octet-stream")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(STREAM_BYTES))
                self.end_headers()
                half = b"x" * (STREAM_BYTES // 2)
                frame = (lambda data: b"%x\r\n%s\r\n" % (len(data), data)) if chunked else bytes
                self.wfile.write(frame(half))
                upstream.stream_released.wait(20)
                self.wfile.write(frame(half))
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")

            def redirect_headers(self):
                # Dashboards-style answers: an absolute redirect and cookies for the upstream.
                host = self.headers["Host"]
                return [
                    ("Location", f"http://{host}/api/_dashboards/app/home"),
                    ("Set-Cookie", f"session=abc; Domain={host}; Path=/api/; Secure; HttpOnly"),
                    ("Set-Cookie", "theme=dark; Path=/api; SameSite=None; Secure"),
                ]

            def answer(self, status, document, extra_headers=()):
                data = json.dumps(document).encode()
                self.send_response_only(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra_headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        self.stream_released.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def stage_url(self) -> str:
        return f"{self.url}/api/"  # with a stage prefix, like API Gateway's


def fetch(url, method="GET", body=None, headers=None, timeout=30):
    """(status, headers, body) without raising on 4xx/5xx."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


# -- signed traffic to the real app ----------------------------------------------------------------


def test_every_request_reaches_the_app_signed_and_status_codes_pass_through(local_stack):
    with (
        VerifyingUpstream(backend=local_stack.api_url) as upstream,
        serve(upstream.stage_url, iam_signer()) as proxy,
    ):
        status, _, body = fetch(f"{proxy.url}/health")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        # A query with + and %20 spaces and a repeated parameter, as browsers send them.
        status, _, body = fetch(f"{proxy.url}/search?label=cat&label=dog&q=red+mug%20cup&size=5")
        assert status == 200 and json.loads(body)["total"] == 0
        status, headers, body = fetch(f"{proxy.url}/search?size=0")
        assert status == 400
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body)["parameter"] == "size"
        status, _, body = fetch(f"{proxy.url}/images/{'0' * 64}")
        assert status == 404 and "no image" in json.loads(body)["error"]
        form = json.dumps({"filename": "a.png", "content_type": "image/png"}).encode()
        status, _, body = fetch(
            f"{proxy.url}/uploads", "POST", form, {"Content-Type": "application/json"}
        )
        assert status == 200 and json.loads(body)["url"].startswith("/_upload/")
        status, headers, body = fetch(f"{proxy.url}/gallery")
        assert status == 200 and b"Image Label Search" in body
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"

    assert len(upstream.seen) == 6
    for seen in upstream.seen:
        assert seen.problem is None, (seen.target, seen.problem)
        assert seen.target.startswith("/api/")  # the stage prefix of the base URL
        assert seen.headers["Host"] == urlsplit(upstream.url).netloc
        assert seen.headers["X-Amz-Security-Token"] == SESSION_TOKEN
        assert "x-amz-security-token" in seen.headers["Authorization"]
    assert upstream.seen[1].target == "/api/search?label=cat&label=dog&q=red%20mug%20cup&size=5"
    assert upstream.seen[4].headers["Content-Type"] == "application/json"  # signed with the body


def test_the_verifier_rejects_tampered_and_wrongly_signed_requests():
    with (
        VerifyingUpstream() as upstream,
        serve(upstream.stage_url, iam_signer()) as good,
        serve(upstream.stage_url, iam_signer(secret_key="not-the-secret")) as bad,
    ):
        assert fetch(f"{good.url}/search?label=cat")[0] == 200
        signed = upstream.seen[-1]
        assert signed.problem is None
        # The very same signed headers, replayed for another query: the check must bite.
        replayed = {k: v for k, v in signed.headers.items() if k.lower() != "host"}
        status, _, body = fetch(f"{upstream.url}/api/search?label=dog", headers=replayed)
        assert (status, json.loads(body)) == (403, {"message": "signature mismatch"})
        # Wrong secret key: the upstream's 403 comes back through the proxy unchanged.
        status, _, body = fetch(f"{bad.url}/search?label=cat")
        assert (status, json.loads(body)) == (403, {"message": "signature mismatch"})
        # Long-term keys (no session token) sign too, without the token header.
        with serve(upstream.stage_url, iam_signer(token=None)) as keys_only:
            assert fetch(f"{keys_only.url}/labels")[0] == 200
        assert upstream.seen[-1].problem is None
        assert "X-Amz-Security-Token" not in upstream.seen[-1].headers


def test_credentials_are_read_again_for_every_request():
    """Refreshable credentials (SSO, assumed roles) renew between requests without a restart."""
    issued = []

    def refresh():
        issued.append(f"AKIDROTATED{len(issued)}")
        return {
            "access_key": issued[-1],
            "secret_key": f"secret-{issued[-1]}",
            "token": f"token-{issued[-1]}",
            # Inside botocore's mandatory refresh window: every use fetches new ones.
            "expiry_time": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        }

    class SsoLikeSession:  # what boto3.Session gives for an SSO or assume-role profile
        credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")

        def get_credentials(self):
            return self.credentials

    with VerifyingUpstream() as upstream:
        signer = make_signer("iam", service=SERVICE, region=REGION, session=SsoLikeSession())
        upstream.secrets = {key: f"secret-{key}" for key in (f"AKIDROTATED{n}" for n in range(9))}
        with serve(upstream.stage_url, signer) as proxy:
            for _ in range(3):
                assert fetch(f"{proxy.url}/labels")[0] == 200
    keys = [_AUTHORIZATION.match(seen.headers["Authorization"])["key"] for seen in upstream.seen]
    assert len(set(keys)) == 3, keys
    assert all(seen.problem is None for seen in upstream.seen)
    assert [s.headers["X-Amz-Security-Token"] for s in upstream.seen] == [
        f"token-{k}" for k in keys
    ]


def test_api_key_and_none_modes():
    with VerifyingUpstream(check_signatures=False) as upstream:
        with serve(upstream.stage_url, make_signer("api_key", api_key="stage-key")) as proxy:
            # A key the page sends itself is replaced by the stage's.
            assert fetch(f"{proxy.url}/labels", headers={"x-api-key": "mine"})[0] == 200
        with serve(upstream.stage_url, make_signer("none")) as proxy:
            assert fetch(f"{proxy.url}/labels", headers={"Authorization": "Basic dTpw"})[0] == 200
    keyed, plain = upstream.seen
    assert keyed.headers["x-api-key"] == "stage-key"
    assert "Authorization" not in keyed.headers and "X-Amz-Date" not in keyed.headers
    assert "x-api-key" not in plain.headers
    assert plain.headers["Authorization"] == "Basic dTpw"  # passed on as it came


def test_request_bodies_are_signed_whole_and_capped():
    with VerifyingUpstream() as upstream, serve(upstream.stage_url, iam_signer()) as proxy:
        large = os.urandom(5 * 1024 * 1024)
        status, _, body = fetch(
            f"{proxy.url}/bulk", "POST", large, {"Content-Type": "application/x-ndjson"}
        )
        assert (status, json.loads(body)["body_bytes"]) == (200, len(large))
        assert upstream.seen[-1].problem is None and upstream.seen[-1].body == large
        # The same signature on another body of the same length is refused.
        replayed = {k: v for k, v in upstream.seen[-1].headers.items() if k.lower() != "host"}
        status, _, _ = fetch(f"{upstream.url}/api/bulk", "POST", large[::-1], replayed)
        assert status == 403 and upstream.seen[-1].problem == (
            "X-Amz-Content-SHA256 is not the body's hash"
        )

        too_large = b"x" * (MAX_SIGNED_BODY_BYTES + 1)
        status, _, body = fetch(f"{proxy.url}/bulk", "POST", too_large)
        assert status == 413 and "10 MiB" in json.loads(body)["error"]
        # curl's way: Expect: 100-continue, and the 413 comes before the body is sent.
        connection = http.client.HTTPConnection("127.0.0.1", urlsplit(proxy.url).port, timeout=10)
        connection.putrequest("POST", "/bulk")
        connection.putheader("Content-Length", str(len(too_large)))
        connection.putheader("Expect", "100-continue")
        connection.endheaders()
        assert connection.getresponse().status == 413
        connection.close()
    assert len(upstream.seen) == 2  # the oversized body never left the machine


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_response_bodies_stream_through(chunked):
    with VerifyingUpstream() as upstream, serve(upstream.stage_url, iam_signer()) as proxy:
        port = urlsplit(proxy.url).port
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/stream?chunked" if chunked else "/stream")
        response = connection.getresponse()
        assert response.status == 200
        assert (response.getheader("Transfer-Encoding") == "chunked") is chunked
        # The first half arrives while the upstream still holds back the second.
        first = response.read(STREAM_BYTES // 2)
        assert len(first) == STREAM_BYTES // 2 and not upstream.stream_released.is_set()
        upstream.stream_released.set()
        assert len(first) + len(response.read()) == STREAM_BYTES
        connection.close()


def test_redirects_and_cookies_stay_on_the_proxy():
    with VerifyingUpstream() as upstream, serve(upstream.stage_url, iam_signer()) as proxy:
        port = urlsplit(proxy.url).port
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/redirect")
        response = connection.getresponse()
        response.read()
        assert response.status == 302
        assert response.getheader("Location") == "/_dashboards/app/home"
        cookies = [value for name, value in response.getheaders() if name == "Set-Cookie"]
        assert cookies == ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/; SameSite=Lax"]


# -- refusals ------------------------------------------------------------------------------------


def no_credentials_environment(tmp_path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environ.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return environ


def test_without_credentials_it_refuses_to_start(tmp_path):
    stage = "https://abc123.execute-api.eu-west-1.amazonaws.com/api/"
    for command in (
        [sys.executable, "-m", "localdev.proxy", "--upstream", stage, "--open", "/gallery"],
        [sys.executable, "-m", "localdev.cli", "search", "cat", "--api", stage],
    ):
        result = subprocess.run(
            command,
            env=no_credentials_environment(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=PROJECT_ROOT,
        )
        assert result.returncode == 2, result
        assert result.stdout == ""
        assert result.stderr.startswith("error: no AWS credentials found: run `aws sso login`")
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_the_command_line_serves_until_terminated(tmp_path):
    with VerifyingUpstream(check_signatures=False) as upstream:
        process = subprocess.Popen(
            [sys.executable, "-m", "localdev.proxy", "--upstream", upstream.stage_url],
            env=no_credentials_environment(tmp_path),  # --auth defaults to none off AWS
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PROJECT_ROOT,
        )
        try:
            line = process.stdout.readline()
            assert line.startswith(f"Proxy for {upstream.stage_url} (none, execute-api): "), line
            url = line.rsplit(" ", 1)[1].strip()
            assert fetch(f"{url}/labels")[0] == 200
        finally:
            process.terminate()
            assert process.wait(10) == 0
    assert upstream.seen[0].target == "/api/labels"


def test_an_unreachable_upstream_answers_502_quickly():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]  # nothing listens once the socket is closed
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        for port, timeout in ((closed_port, 60.0), (silent.getsockname()[1], 1.0)):
            upstream = f"http://127.0.0.1:{port}/api/"
            with serve(upstream, iam_signer(), read_timeout=timeout) as proxy:
                started = time.monotonic()
                status, headers, body = fetch(f"{proxy.url}/search")
                elapsed = time.monotonic() - started
            assert status == 502 and headers["Content-Type"] == "application/json"
            assert f"127.0.0.1:{port} cannot be reached" in json.loads(body)["error"]
            assert elapsed < timeout + 2


def test_it_binds_to_loopback_and_answers_only_for_itself():
    with VerifyingUpstream() as upstream, serve(upstream.stage_url, iam_signer()) as proxy:
        port = urlsplit(proxy.url).port
        assert proxy.server.server_address == ("127.0.0.1", port)
        with pytest.raises(ConnectionRefusedError):  # another loopback address: not bound
            socket.create_connection(("127.0.0.2", port), timeout=5)

        refused = [
            # a DNS-rebinding page: the right address, a foreign host name
            fetch(f"{proxy.url}/labels", headers={"Host": "evil.example"}),
            # another site open in the same browser
            fetch(f"{proxy.url}/labels", headers={"Origin": "https://evil.example"}),
            fetch(f"{proxy.url}/labels", headers={"Sec-Fetch-Site": "cross-site"}),
            fetch(f"{proxy.url}/labels", headers={"Sec-Fetch-Site": "same-site"}),  # :other-port
        ]
        assert [status for status, _, _ in refused] == [403, 403, 403, 403]
        # What the user opens directly is served (the page's own requests are same-origin).
        opened = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
        assert fetch(f"{proxy.url}/labels", headers=opened)[0] == 200
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "http://example.org/")  # an open proxy's request form
        assert connection.getresponse().status == 400
        connection.close()
        assert fetch(f"{proxy.url.replace('127.0.0.1', 'localhost')}/labels")[0] == 200
    assert len(upstream.seen) == 2


def test_cli_search_signs_or_sends_the_key(local_stack, capsys):
    assert default_auth("https://abc123.execute-api.eu-west-1.amazonaws.com/api/") == "iam"
    assert default_auth(local_stack.api_url) == "none"
    assert infer_region("https://search-x-abc.us-west-2.es.amazonaws.com") == "us-west-2"
    with VerifyingUpstream(backend=local_stack.api_url) as upstream:
        result = cli.search(upstream.stage_url, ["cat"], signer=iam_signer(), q="a b")
        assert result["total"] == 0
        assert upstream.seen[-1].problem is None
        assert upstream.seen[-1].target == "/api/search?label=cat&q=a%20b"

        upstream.check_signatures = False
        argv = ["search", "cat", "--api", upstream.stage_url, "--auth", "api_key"]
        assert cli.main([*argv, "--api-key", "stage-key"]) == 0
        assert upstream.seen[-1].headers["x-api-key"] == "stage-key"
        assert "0 images" in capsys.readouterr().out


# -- uploads ---------------------------------------------------------------------------------------


def test_an_upload_goes_through_the_proxy_to_s3_and_is_indexed(local_stack):
    with (
        VerifyingUpstream(backend=local_stack.api_url) as upstream,
        serve(upstream.stage_url, iam_signer()) as proxy,
    ):
        request = json.dumps({"filename": "chelsea cat.jpg", "content_type": "image/jpeg"})
        status, _, body = fetch(
            f"{proxy.url}/uploads", "POST", request.encode(), {"Content-Type": "application/json"}
        )
        assert status == 200
        form = json.loads(body)
        assert form["url"].startswith("/_upload/")  # S3's URL stays with the proxy

        fields = [
            *form["fields"].items(),
            ("file", ("cat.jpg", (SAMPLES / "chelsea-cat.jpg").read_bytes(), "image/jpeg")),
        ]
        data, content_type = urllib3.encode_multipart_formdata(fields)
        status, _, body = fetch(
            proxy.url + form["url"], "POST", data, {"Content-Type": content_type}
        )
        assert status == 204, body

        # Only the URL handed out is reachable, and only with POST.
        assert fetch(f"{proxy.url}/_upload/{'0' * 32}", "POST", data)[0] == 404
        assert fetch(proxy.url + form["url"])[0] == 404

        local_stack.wait_until_indexed([form["key"]], timeout=60)
        status, _, body = fetch(f"{proxy.url}/search?label=cat")
        assert [item["key"] for item in json.loads(body)["items"]] == [form["key"]]
    assert all(seen.problem is None for seen in upstream.seen)
    assert not any(seen.target.startswith("/api/_upload") for seen in upstream.seen)
