"""The whole pipeline on one machine, no AWS account: every service bound to 127.0.0.1.

* S3 and SQS: moto's server. The bucket, the queue, its dead-letter queue (redrive with
  maxReceiveCount) and the bucket notification are created through boto3 exactly as on AWS,
  so real S3 event messages (the initial s3:TestEvent too) flow into the queue.
* Rekognition: localdev.rekognition, reached through AWS_ENDPOINT_URL_REKOGNITION, so the
  function's boto3 client runs unchanged.
* The function: the very same Chalice app, fed by LocalEventSourceMapping and served over
  HTTP by Chalice's local server. ``pollers`` > 1 stands in for Lambda's concurrency: each
  poller feeds its own copy of app.py (imported again, with its own clients, pool and rate
  limiter), as each Lambda execution environment does; at most the maximum concurrency that
  REKOGNITION_TPS derives (chalicelib/rate.py), as Lambda honours it.
* ``rekognition_tps`` gives the local Rekognition a TPS quota (localdev/rekognition/quota.py).
* ``staged_notifications`` sends the bucket's notifications to a staging queue, which a feeder
  empties into its backlog and from which it keeps the function's queue topped up
  (localdev/feeder.py): moto's SQS slows down with a queue's depth, SQS's does not, and a
  flood would otherwise measure moto.
* Search: the embedded SQLite store, or a search endpoint when one is given.
* ``StackHooks``: where a harness instruments the stack as it starts (bench/chaos puts a
  throttling proxy in front of Rekognition and records every invocation), not by overriding
  its steps.

The function's settings come from the environment as in Lambda (localdev/local_settings.py
says which few the stack decides itself); they are checked before anything starts.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import importlib.util
import json
import logging
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO
from urllib.parse import unquote_plus

import boto3

from chalicelib.components import Components
from chalicelib.documents import image_id
from chalicelib.metrics import BatchMetrics
from chalicelib.settings import Settings
from chalicelib.store.base import StoreUnavailable
from localdev import local_settings

if TYPE_CHECKING:
    from localdev.rekognition.server import LocalRekognition

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# AWS_* variables that are settings of the function (chalicelib/settings.py), not credentials
# or endpoints: they pass through to the function like any other setting.
AWS_SETTINGS = ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS")


class PortInUse(Exception):
    def __init__(self, port: int):
        super().__init__(
            f"port {port} is already in use (another `make run`?): pick another with "
            f"`make run PORT={port + 1}`, or PORT=0 for any free port"
        )
        self.port = port


class DeadLettered(Exception):
    """Messages reached the dead-letter queue while the caller waited for them to be indexed."""


@dataclass
class StackOptions:
    bucket: str = "image-label-search-local"
    queue_name: str = "image-label-search-local-uploads"
    # None: BATCH_SIZE from the environment, else 10.
    batch_size: int | None = None
    # Short, so that a failed message reappears (and reaches the DLQ) within seconds locally.
    visibility_timeout_seconds: int = 5
    max_receive_count: int = 3
    api_port: int = 8000
    data_dir: Path = PROJECT_ROOT / "data"
    search_endpoint: str | None = None
    # Settings the calling code decides (tests, benchmarks): they win over the environment.
    # The local defaults are in localdev/local_settings.py.
    function_settings: dict[str, str] = field(default_factory=dict)
    # None: AWS_REGION or AWS_DEFAULT_REGION from the environment, else us-east-1.
    region: str | None = None
    # Where each image's outcome is printed as it happens (None: the function's JSON log lines).
    console: TextIO | None = None
    # One line per API request, as chalice's local server prints them.
    access_log: bool = False
    # Concurrent invocations of the indexer, like Lambda's (capped by its maximum concurrency).
    pollers: int = 1
    # A TPS quota per operation at the local Rekognition; None: unlimited.
    rekognition_tps: float | None = None
    # What answers behind the local endpoint's protocol, quota and errors (None: the models).
    rekognition_service: object | None = None
    # Pollers start on start_pollers(), not on start(): a flood fills the queue first.
    hold_pollers: bool = False
    # Notifications to a staging queue, fed to the function's queue (localdev/feeder.py).
    staged_notifications: bool = False


# app.py's index_images: (SQS event, Lambda context) -> the batch response.
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class RunningEndpoint(Protocol):
    """A server started for the stack, which stops it with itself."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class StackHooks:
    """What a harness puts into the stack as it starts; None leaves that step as it is."""

    # Given the local Rekognition's URL, starts what the function calls instead (a proxy that
    # injects faults) and returns it.
    rekognition_front: Callable[[str], RunningEndpoint] | None = None
    # The local Rekognition once it runs, before the function can call it.
    rekognition_started: Callable[[LocalRekognition], None] | None = None
    # Given a copy of app.py's index_images, returns what its poller invokes instead.
    wrap_handler: Callable[[Handler], Handler] | None = None


@dataclass
class StackUrls:
    api: str
    gallery: str
    s3: str
    rekognition: str


class LocalStack:
    """Start with ``start()`` (or ``with``); everything stops with ``stop()``."""

    def __init__(self, options: StackOptions | None = None, hooks: StackHooks | None = None):
        self.options = options or StackOptions()
        self.hooks = hooks or StackHooks()
        self.region = self.options.region or local_settings.region_from(os.environ)
        self._saved_environ: dict[str, str] | None = None
        self._stoppers: list = []
        self._function_settings: dict[str, str] = {}
        self._metrics: TextIO | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        # Settings first: a bad value or a conflict costs nothing started.
        self.settings = self._check_settings()
        self._check_port()
        # From here on the process runs with the function's environment, the local services'
        # clients included: a real account's AWS_PROFILE or keys must not reach them.
        self._saved_environ = dict(os.environ)
        os.environ.clear()
        os.environ.update(self._function_settings)
        if self.options.console is not None:
            from localdev.console import outcomes_on

            routed = outcomes_on(self.options.console)
            routed.__enter__()
            self._stoppers.append(lambda: routed.__exit__(None, None, None))

        from moto.server import ThreadedMotoServer

        # One line per request from moto's and Chalice's servers would drown the output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

        from localdev.rekognition.quota import TpsQuota
        from localdev.rekognition.server import LocalRekognition

        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        self._stoppers.append(moto.stop)
        host, port = moto.get_host_and_port()
        self.s3_url = f"http://{host}:{port}"
        # moto keeps its state per process, not per server: start from nothing every time.
        urllib.request.urlopen(
            urllib.request.Request(f"{self.s3_url}/moto-api/reset", method="POST"), timeout=10
        ).close()

        quota = TpsQuota(self.options.rekognition_tps) if self.options.rekognition_tps else None
        rekognition = LocalRekognition(
            s3_endpoint_url=self.s3_url,
            region=self.region,
            quota=quota,
            service=self.options.rekognition_service,
        ).start()
        self._stoppers.append(rekognition.stop)
        self.rekognition = rekognition
        if self.hooks.rekognition_started is not None:
            self.hooks.rekognition_started(rekognition)

        self._set_environment(self._function_rekognition_url(rekognition.url))
        self._reset_embedded_store()
        session = boto3.session.Session()  # reads the environment just set
        self.s3 = session.client("s3")
        self.sqs = session.client("sqs")
        self.staging_url: str | None = None
        self.queue_url, self.queue_arn, self.dlq_url = self._create_resources()
        self.feeder = None
        if self.staging_url:
            from localdev.feeder import QueueFeeder

            # Target 0 until the pollers start: the whole flood waits in the backlog.
            self.feeder = QueueFeeder(self.sqs, self.staging_url, self.queue_url).start()
            self._stoppers.append(self.feeder.stop)

        self.app_module = self._import_app()
        if not self.options.hold_pollers:
            self.start_pollers()
        self._start_api()

    def stop(self) -> None:
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                stopper()
            except Exception as error:  # keep stopping the rest
                print(f"warning: stopping a local service failed: {error}")
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def urls(self) -> StackUrls:
        return StackUrls(
            api=self.api_url,
            gallery=f"{self.api_url}/gallery",
            s3=self.s3_url,
            rekognition=self.rekognition.url,
        )

    # -- pieces ---------------------------------------------------------------------------------

    def fixed_settings(self) -> dict[str, str]:
        """What the stack decides itself; the environment may repeat it, not change it."""
        options = self.options
        return {
            "QUEUE_NAME": options.queue_name,
            "SQLITE_PATH": str(options.data_dir / "images.sqlite3"),
            "UPLOAD_BUCKET": options.bucket,
            "API_AUTH": "none",
        }

    def caller_settings(self) -> dict[str, str]:
        options = self.options
        settings = dict(options.function_settings)
        if options.batch_size is not None:
            settings["BATCH_SIZE"] = str(options.batch_size)
        if options.search_endpoint:
            settings["SEARCH_ENDPOINT"] = options.search_endpoint
        return settings

    def _function_environment(self, environ) -> dict[str, str]:
        """The process environment the function runs with (endpoints are added on start)."""
        # A clean slate: the function must not see a real account's credentials or endpoints.
        kept = {
            name: value
            for name, value in environ.items()
            if not (name.startswith("AWS_") or name in ("SEARCH_ENDPOINT", "QUEUE_ARN"))
            or name in AWS_SETTINGS
        }
        settings = local_settings.function_environment(
            environ, self.fixed_settings(), self.caller_settings()
        )
        return {
            **kept,
            **LOCAL_CREDENTIALS,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **settings,
        }

    def _check_settings(self) -> Settings:
        """Parse the function's settings as app.py will, and refuse what cannot work locally.

        Raises chalicelib.settings.ConfigurationError, whose message is one line naming the
        variable and what it accepts."""
        environ = self._function_environment(os.environ)
        settings = Settings.from_environ(environ)
        local_settings.check_servable(settings)
        self._function_settings = environ
        return settings

    def setting_differences(self) -> list[tuple[str, str, str]]:
        """(variable, value, source) for each effective setting that is not the default."""
        return local_settings.effective_differences(
            self._function_settings,
            self._saved_environ if self._saved_environ is not None else os.environ,
            self.fixed_settings(),
            self.caller_settings(),
        )

    def _check_port(self) -> None:
        """Fail before starting anything when the API's port is taken."""
        port = self.options.api_port
        if not port:
            return
        probe = socket.socket()
        # As the HTTP server does: a port left in TIME_WAIT by a stopped run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(port) from None
            raise
        finally:
            probe.close()

    def _function_rekognition_url(self, local_url: str) -> str:
        if self.hooks.rekognition_front is None:
            return local_url
        front = self.hooks.rekognition_front(local_url)
        self._stoppers.append(front.stop)
        return front.url

    def _set_environment(self, rekognition_url: str) -> None:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL_S3": self.s3_url,
                "AWS_ENDPOINT_URL_SQS": self.s3_url,
                "AWS_ENDPOINT_URL_REKOGNITION": rekognition_url,
            }
        )

    def _reset_embedded_store(self) -> None:
        """The local bucket starts empty on every start, so the embedded index does too."""
        if not self.options.search_endpoint:
            database = Path(os.environ["SQLITE_PATH"])
            for path in database.parent.glob(database.name + "*"):  # with its -wal and -shm
                path.unlink()

    def _create_resources(self) -> tuple[str, str, str]:
        options = self.options
        location = (
            {} if self.region == "us-east-1" else {"LocationConstraint": self.region}
        )  # S3 refuses us-east-1 as a location constraint, and requires it elsewhere
        self.s3.create_bucket(
            Bucket=options.bucket,
            **({"CreateBucketConfiguration": location} if location else {}),
        )
        dlq_url = self.sqs.create_queue(QueueName=f"{options.queue_name}-dlq")["QueueUrl"]
        dlq_arn = self._queue_arn(dlq_url)
        queue_url = self.sqs.create_queue(
            QueueName=options.queue_name,
            Attributes={
                "VisibilityTimeout": str(options.visibility_timeout_seconds),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": options.max_receive_count}
                ),
            },
        )["QueueUrl"]
        queue_arn = self._queue_arn(queue_url)
        notified_arn = queue_arn
        if options.staged_notifications:
            self.staging_url = self.sqs.create_queue(QueueName=f"{options.queue_name}-staging")[
                "QueueUrl"
            ]
            notified_arn = self._queue_arn(self.staging_url)
        self.s3.put_bucket_notification_configuration(
            Bucket=options.bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": notified_arn,
                        "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    }
                ]
            },
        )
        return queue_url, queue_arn, dlq_url

    def _queue_arn(self, queue_url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return attributes["Attributes"]["QueueArn"]

    def _import_app(self):
        """Import app.py after the environment is set, as Lambda does.

        A module of its own, not ``sys.modules["app"]``: app.py reads its settings at import
        time (API_AUTH, the queue), and the app that other code imports must keep the ones
        it was imported with, not the local stack's."""
        spec = importlib.util.spec_from_file_location("local_stack_app", PROJECT_ROOT / "app.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {PROJECT_ROOT / 'app.py'}")
        module: Any = importlib.util.module_from_spec(spec)  # app.py's names are its own
        spec.loader.exec_module(module)
        # The EMF line of every batch goes to a file beside the store, not between the
        # console's "indexed <key> <labels>" lines, which are what a person reads.
        settings = module.components.settings
        module.components = Components(
            settings=settings, metrics=BatchMetrics(settings.stage, stream=self._metrics_stream())
        )
        return module

    def _metrics_stream(self):
        if self._metrics is None:
            self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
            self._metrics = self.metrics_path.open("w", encoding="utf-8")
            self._stoppers.append(self._metrics.close)
        return self._metrics

    @property
    def metrics_path(self) -> Path:
        """Where the batches' embedded-metric-format lines go (rewritten at each start)."""
        return self.options.data_dir / "metrics.jsonl"

    def start_pollers(self) -> None:
        """Start the event source mapping's pollers (``start()`` does, unless held)."""
        from chalicelib.rate import maximum_concurrency
        from localdev.poller import LocalEventSourceMapping, concurrent_pollers, stop_all

        count = concurrent_pollers(self.options.pollers, maximum_concurrency(self.settings))
        # The first copy is the one the API and wait_until_indexed use; the others are the
        # further execution environments.
        handlers = [self.app_module.index_images]
        handlers += [self._import_app().index_images for _ in range(count - 1)]
        if self.hooks.wrap_handler is not None:
            handlers = [self.hooks.wrap_handler(handler) for handler in handlers]
        self.pollers = count
        receive_lock = threading.Lock()  # see localdev/poller.py: moto's receive is not atomic
        pollers = [
            LocalEventSourceMapping(
                self.sqs,
                self.queue_url,
                self.queue_arn,
                handler,
                batch_size=self.settings.batch_size,
                window_seconds=self.settings.max_batching_window_seconds,
                region=self.region,
                name=f"sqs-poller-{number}",
                receive_lock=receive_lock,
            )
            for number, handler in enumerate(handlers)
        ]
        self._stoppers.append(lambda: stop_all(pollers))
        if self.feeder:
            # Two batches per poller visible: each finds a full batch on its next receive.
            self.feeder.target = 2 * count * self.settings.batch_size
        for poller in pollers:
            poller.start()

    def _start_api(self) -> None:
        from localdev.local_api import local_server

        try:
            server = local_server(
                self.app_module.app, "127.0.0.1", self.options.api_port, self.options.access_log
            )
        except OSError as error:  # taken since _check_port
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(self.options.api_port) from None
            raise
        host, port = server.server.server_address[:2]
        self.api_url = f"http://{host}:{port}"
        thread = threading.Thread(target=server.server.serve_forever, name="api", daemon=True)
        thread.start()

        def stop_api():
            server.shutdown()
            server.server.server_close()
            thread.join()

        self._stoppers.append(stop_api)

    # -- what the runner and the tests ask --------------------------------------------------------

    def wait_until_indexed(
        self,
        keys: list[str],
        *,
        bucket: str | None = None,
        since: str = "",
        timeout: float = 120,
        stop_on_dead_letters: bool = False,
    ) -> dict[str, dict]:
        """Poll the store until every key is indexed (at or after ``since``, so that a document
        left by an earlier run does not count); returns the documents by key.

        Raises TimeoutError naming the keys still missing, and with ``stop_on_dead_letters``
        DeadLettered as soon as the dead-letter queue holds a message: those keys never come.
        """
        store = self.app_module.components.store
        pending = {key: image_id(bucket or self.options.bucket, key) for key in keys}
        indexed: dict[str, dict] = {}
        deadline = time.monotonic() + timeout
        next_dlq_check = time.monotonic()
        while pending and time.monotonic() < deadline:
            if stop_on_dead_letters and time.monotonic() >= next_dlq_check:
                next_dlq_check = time.monotonic() + 1
                self._raise_if_dead_lettered(sorted(pending))
            for key, document_id in list(pending.items()):
                try:
                    document = store.get(document_id)
                except StoreUnavailable:  # e.g. the index is still being created
                    break
                if document is not None and document["indexed_at"] >= since:
                    indexed[key] = document
                    del pending[key]
            time.sleep(0.2)
        if pending:
            raise TimeoutError(f"not indexed within {timeout} s: {sorted(pending)}")
        return indexed

    def _raise_if_dead_lettered(self, pending: list[str]) -> None:
        dead = self.queue_depths()["dlq"]
        if not dead:
            return
        keys = self.dead_lettered_keys()
        raise DeadLettered(
            f"{dead} message(s) moved to the dead-letter queue after "
            f"{self.options.max_receive_count} failed attempts"
            + (f" ({', '.join(keys[:5])})" if keys else "")
            + f"; still not indexed: {len(pending)} image(s). The failed lines above say why"
        )

    def dead_lettered_keys(self) -> list[str]:
        """The object keys named by the messages in the dead-letter queue (a peek: they stay)."""
        response = self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        keys = []
        for message in response.get("Messages", []):
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                for record in json.loads(message["Body"]).get("Records", []):
                    keys.append(unquote_plus(record["s3"]["object"]["key"]))
        return keys

    def queue_depths(self) -> dict[str, int]:
        """Visible + in-flight + delayed messages of the queue and of its dead-letter queue
        (a throttled message sent back waits as a delayed one: chalicelib/redelivery.py); the
        queue's count includes the staging queue's and the feeder's backlog, whose messages
        wait for the function too."""

        def depth(url: str) -> int:
            names = [
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ]
            attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
            return sum(int(attributes["Attributes"][name]) for name in names)

        staged = depth(self.staging_url) + self.feeder.backlog if self.feeder else 0
        return {"queue": depth(self.queue_url) + staged, "dlq": depth(self.dlq_url)}
