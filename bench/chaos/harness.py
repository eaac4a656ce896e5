"""What the fault-injection scenarios share: an instrumented local stack, a throttling proxy in
front of the local Rekognition, log capture, and an OpenSearch node restart in place."""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from bench.report import PROJECT_ROOT, Deadline
from localdev.stack import Handler, LocalStack, StackHooks

SAMPLES = PROJECT_ROOT / "samples"


def sample_images() -> list[tuple[str, bytes]]:
    return [
        (path.name, path.read_bytes())
        for path in sorted(SAMPLES.iterdir())
        if path.suffix.lower() in (".jpg", ".jpeg", ".png")
    ]


# --------------------------------------------------------------------------- function logs


class LogCapture(logging.Handler):
    """Keeps the function's structured log records (outcome, reason, key, message id)."""

    def __init__(self):
        super().__init__()
        self.records: list[dict] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        entry = {
            "message": record.getMessage(),
            **{
                name: getattr(record, name, None)
                for name in ("outcome", "reason", "key", "message_id", "bucket")
            },
        }
        with self._lock:
            self.records.append(entry)

    def outcomes_by_key(self) -> dict[str, Counter]:
        found: dict[str, Counter] = defaultdict(Counter)
        for entry in list(self.records):
            if entry.get("key"):
                found[entry["key"]][entry["outcome"]] += 1
        return found

    def by_message(self, message_id: str) -> list[dict]:
        return [entry for entry in list(self.records) if entry.get("message_id") == message_id]


def capture_function_logs() -> LogCapture:
    """Route the function's logger to a capture (get_logger adds no stdout handler then)."""
    from chalicelib.logs import LOGGER_NAME

    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    capture = LogCapture()
    logger.addHandler(capture)
    logger.propagate = False
    return capture


# --------------------------------------------------------------------------- the stack


class ChaosStack(LocalStack):
    """The local stack through its hooks (localdev/stack.py StackHooks): an optional proxy in
    front of Rekognition, a count of the calls Rekognition answers, and a record of every
    handler invocation (message ids in, batchItemFailures out)."""

    def __init__(self, options, proxy_factory=None):
        self._proxy_factory = proxy_factory
        self.proxy = None
        self.invocations: list[dict] = []
        self.rekognition_calls = 0
        self._calls_lock = threading.Lock()
        super().__init__(
            options,
            StackHooks(
                rekognition_front=self._start_proxy if proxy_factory is not None else None,
                rekognition_started=self._count_calls,
                wrap_handler=self._recording,
            ),
        )

    def _start_proxy(self, rekognition_url: str):
        self.proxy = self._proxy_factory(rekognition_url).start()
        return self.proxy

    def _count_calls(self, rekognition) -> None:
        service = rekognition.service
        original_call = service.call

        def counting_call(operation, request):
            with self._calls_lock:
                self.rekognition_calls += 1
            return original_call(operation, request)

        service.call = counting_call

    def _recording(self, handler: Handler) -> Handler:
        def recording_handler(event, context):
            started = time.monotonic()
            response = handler(event, context)
            self.invocations.append(
                {
                    "messages": [record["messageId"] for record in event["Records"]],
                    "failed": [item["itemIdentifier"] for item in response["batchItemFailures"]],
                    "seconds": time.monotonic() - started,
                }
            )
            return response

        return recording_handler

    def upload_copies(self, count: int, prefix: str, threads: int = 8) -> list[str]:
        """Upload ``count`` copies of the sample images under distinct keys."""
        samples = sample_images()
        keys = [f"{prefix}/{n:05d}-{samples[n % len(samples)][0]}" for n in range(count)]

        def put(position: int) -> None:
            self.s3.put_object(
                Bucket=self.options.bucket, Key=keys[position], Body=samples[position % 5][1]
            )

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, range(count)))
        return keys


def wait_until(condition, seconds: float, interval: float = 1.0):
    """Poll ``condition`` until it is truthy or the time is up; returns its last value."""
    deadline = Deadline(seconds)
    value = condition()
    while not value and not deadline.passed:
        time.sleep(interval)
        value = condition()
    return value


def indexed_count(es, alias: str) -> int:
    try:
        es.indices.refresh(index=alias)
        return es.count(index=alias, body={"query": {"term": {"deleted": False}}})["count"]
    except Exception:  # not created yet, or the node is down
        return -1


def dlq_bodies(stack: LocalStack) -> list[dict]:
    """Every message in the dead-letter queue (received once, bounded), with receive counts."""
    found: dict[str, dict] = {}
    for _ in range(20):
        response = stack.sqs.receive_message(
            QueueUrl=stack.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=60,
            AttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        for message in messages:
            found[message["MessageId"]] = {
                "id": message["MessageId"],
                "body": message["Body"],
                "receives": int(message["Attributes"].get("ApproximateReceiveCount", 0)),
            }
    return list(found.values())


# --------------------------------------------------------------------------- throttling proxy


# The signature travels with the call: the local Rekognition, like the service, refuses an
# unsigned request ("Missing Authentication Token").
FORWARDED_HEADERS = frozenset(
    {"content-type", "x-amz-target", "authorization", "x-amz-date", "x-amz-security-token"}
)


class ThrottleProxy:
    """An HTTP proxy for the Rekognition JSON protocol that answers ThrottlingException (400)
    to a fixed share of requests (seeded) and forwards the rest. Counts attempts from
    botocore's ``amz-sdk-request: attempt=N; max=M`` header."""

    def __init__(self, target_url: str, share: float, seed: int = 42):
        self.target = urlsplit(target_url)
        self.share = share
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.requests = 0
        self.throttled = 0
        self.attempts: Counter = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                attempt = _attempt(self.headers.get("amz-sdk-request", ""))
                with proxy._lock:
                    proxy.requests += 1
                    proxy.attempts[attempt] += 1
                    throttle = proxy._random.random() < proxy.share
                    proxy.throttled += throttle
                if throttle:
                    payload = json.dumps(
                        {"__type": "ThrottlingException", "Message": "Rate exceeded"}
                    ).encode()
                    self._answer(400, "application/x-amz-json-1.1", payload)
                    return
                status, content_type, payload = proxy.forward(dict(self.headers), body)
                self._answer(status, content_type, payload)

            def _answer(self, status, content_type, payload):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def forward(self, headers: dict, body: bytes) -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=60)
        try:
            forwarded = {
                name: value for name, value in headers.items() if name.lower() in FORWARDED_HEADERS
            }
            connection.request("POST", "/", body=body, headers=forwarded)
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
        finally:
            connection.close()

    def start(self) -> ThrottleProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _attempt(header: str) -> int:
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "attempt" and value.isdigit():
            return int(value)
    return 1


# --------------------------------------------------------------------------- node restart


def kill_node(node) -> None:
    """SIGKILL the node's whole process group (a crash, not a shutdown)."""
    os.killpg(node.process.pid, signal.SIGKILL)
    deadline = Deadline(30)
    from localdev.search_node.node import group_alive

    while group_alive(node.process) and not deadline.passed:
        time.sleep(0.1)


def restart_node_in_place(node, heap: str) -> None:
    """Start the same node again on the same data folder and HTTP port.

    localdev.search_node gives every start a fresh folder (Node.stop() deletes it), so the
    restart is done here: the same command line (node.process.args: same path.data and ports)
    and the environment start_node() builds. node.process is replaced, so node.stop() still
    stops the new process group and removes the folder.
    """
    from localdev.search_node.node import node_environment, wait_until_yellow

    run_dir: Path = node.run_dir
    env = node_environment(node.engine, run_dir, heap)
    with node.log_path.open("ab") as log:
        node.process = subprocess.Popen(
            node.process.args,
            cwd=run_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until_yellow(node, 120)
