"""Rekognition's HTTP protocol (AWS JSON 1.1) on a local port, so that an unmodified boto3
client with ``endpoint_url`` (or ``AWS_ENDPOINT_URL_REKOGNITION``) gets real labels.

botocore sends ``POST /`` with ``X-Amz-Target: RekognitionService.<Operation>`` and a JSON
body; answers are JSON, and errors are HTTP 4xx/5xx with ``{"__type": code, "Message": ...}``,
which botocore raises as ``ClientError`` with that code (the body also carries ``Code`` and
``Logref``, as Rekognition's do).

Requests must be SigV4-signed, as the service requires: without an ``Authorization`` header
the answer is MissingAuthenticationTokenException, with one that is not a SigV4 signature
IncompleteSignatureException. The signature itself is not verified (any credentials pass).
"""

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config

from .errors import (
    ImageTooLargeException,
    IncompleteSignatureException,
    MissingAuthenticationTokenException,
    RekognitionError,
    SerializationException,
    UnknownOperationException,
)
from .images import MAX_BYTES_SIZE
from .operations import LocalRekognitionService
from .quota import TpsQuota

logger = logging.getLogger(__name__)

TARGET_PREFIX = "RekognitionService."
CONTENT_TYPE = "application/x-amz-json-1.1"
# The largest body a valid request can have: 5 MB of image as base64, plus the JSON around it.
MAX_BODY_SIZE = MAX_BYTES_SIZE * 4 // 3 + 64 * 1024
# A larger body is read and dropped up to this size, so that the client, which sends all of
# it before reading the answer, gets ImageTooLargeException rather than a reset connection.
MAX_DISCARDED_BODY_SIZE = 64 * 1024 * 1024
# What a SigV4 Authorization header starts with, and the parts it must name.
SIGV4_ALGORITHM = "AWS4-HMAC-SHA256 "
SIGV4_PARTS = ("Credential=", "SignedHeaders=", "Signature=")


def s3_client_for(endpoint_url: str | None, region: str):
    """An S3 client for the images. A local endpoint (moto) gets dummy credentials; without
    one, boto3's usual configuration applies (``AWS_ENDPOINT_URL_S3``, credentials chain)."""
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
    if endpoint_url is None:
        return boto3.client("s3", region_name=region, config=config)
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=config,
    )


def error_body(code: str, message: str, request_id: str) -> dict:
    return {"__type": code, "Code": code, "Message": message, "Logref": request_id}


class RekognitionRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its connections
    # Headers and body are separate writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK, 40-60 ms per request.
    disable_nagle_algorithm = True
    server_version = "LocalRekognition/1.0"
    server: "RekognitionHTTPServer"

    def do_POST(self):
        request_id = str(uuid.uuid4())
        try:
            self.check_signed()
            operation = self.operation()
            request = self.json_body()
            if self.server.quota is not None:  # a TPS quota refuses before any work (quota.py)
                self.server.quota.admit(operation)
            status, body = 200, self.server.service.call(operation, request)
        except RekognitionError as error:
            status, body = error.status, error_body(error.code, error.message, request_id)
        except Exception:
            logger.exception("request %s failed", request_id)
            status, body = 500, error_body("InternalServerError", "Internal error", request_id)
        self.send_json(status, body, request_id)

    def check_signed(self):
        """SigV4 presence, as the service checks it before anything else."""
        authorization = self.headers.get("Authorization")
        if authorization is None:
            self.discard_body()
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        if not authorization.startswith(SIGV4_ALGORITHM) or not all(
            part in authorization for part in SIGV4_PARTS
        ):
            self.discard_body()
            raise IncompleteSignatureException(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                "parameters of an AWS4-HMAC-SHA256 signature"
            )

    def operation(self) -> str:
        target = self.headers.get("X-Amz-Target", "")
        if not target.startswith(TARGET_PREFIX):
            self.discard_body()
            raise UnknownOperationException(f"X-Amz-Target {target!r} is not a Rekognition call")
        return target.removeprefix(TARGET_PREFIX)

    def json_body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_SIZE:
            self.discard_body()
            raise ImageTooLargeException("Image size is too large: Bytes are limited to 5 MB")
        body = self.rfile.read(length)
        try:
            request = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise SerializationException(f"Request body is not valid JSON: {error}") from None
        if not isinstance(request, dict):
            raise SerializationException("The request body must be a JSON object")
        return request

    def discard_body(self):
        remaining = int(self.headers.get("Content-Length") or 0)
        if remaining > MAX_DISCARDED_BODY_SIZE:
            self.close_connection = True  # not worth reading: drop it with the connection
            return
        while remaining > 0:
            remaining -= len(self.rfile.read(min(remaining, 1024 * 1024)) or b"x" * remaining)

    def send_json(self, status: int, body: dict, request_id: str):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", request_id)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):
        logger.info("%s %s", self.address_string(), format % args)


class RekognitionHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow client must not keep the process alive

    def __init__(self, address, service: LocalRekognitionService, quota: TpsQuota | None = None):
        super().__init__(address, RekognitionRequestHandler)
        self.service = service
        self.quota = quota


class LocalRekognition:
    """A local Rekognition endpoint on ``host:port`` (port 0: any free port), bound when it
    is constructed so that ``url`` is known at once; ``start()`` serves it from a thread.

        with LocalRekognition(s3_endpoint_url=moto_url) as rekognition:
            client = boto3.client("rekognition", endpoint_url=rekognition.url, ...)
    """

    def __init__(
        self,
        s3_endpoint_url: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "us-east-1",
        threads: int = 2,
        s3_client=None,
        quota: TpsQuota | None = None,
        service=None,
    ):
        self.s3_client = s3_client or s3_client_for(s3_endpoint_url, region)
        # ``service``: anything with call(operation, request) instead of the models (bench.flood).
        self.service = service or LocalRekognitionService(self.s3_client, threads)
        self.quota = quota
        self._httpd = RekognitionHTTPServer((host, port), self.service, quota)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def warm_up(self):
        """Load the models now rather than on the first request (about 0.5 s)."""
        faces = self.service.face_detector
        for session in (self.service.classifier.session, faces.p_net, faces.r_net, faces.o_net):
            session.load()

    def start(self) -> "LocalRekognition":
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="local-rekognition", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self):
        """Serve on the calling thread until ``stop()`` or KeyboardInterrupt."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def stop(self):
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "LocalRekognition":
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
