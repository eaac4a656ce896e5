"""The whole pipeline on one machine, no AWS account: every service bound to 127.0.0.1.

* S3 and SQS: moto's server. The bucket, the queue, its dead-letter queue (redrive with
  maxReceiveCount) and the bucket notification are created through boto3 exactly as on AWS,
  so real S3 event messages (the initial s3:TestEvent too) flow into the queue.
* Rekognition: localdev.rekognition, reached through AWS_ENDPOINT_URL_REKOGNITION, so the
  function's boto3 client runs unchanged.
* The function: the very same Chalice app, fed by LocalEventSourceMapping and served over
  HTTP by Chalice's local server.
* Search: the embedded SQLite store, or a search endpoint when one is given.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from chalicelib.documents import image_id
from chalicelib.store.base import StoreUnavailable

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


@dataclass
class StackOptions:
    bucket: str = "image-label-search-local"
    queue_name: str = "image-label-search-local-uploads"
    batch_size: int = 10
    # Short, so that a failed message reappears (and reaches the DLQ) within seconds locally.
    visibility_timeout_seconds: int = 5
    max_receive_count: int = 3
    api_port: int = 8000
    data_dir: Path = PROJECT_ROOT / "data"
    search_endpoint: str | None = None
    # Extra settings for the function (see chalicelib/settings.py). The local classifier spreads
    # its confidence over related ImageNet classes, so it needs a lower bar than Rekognition.
    function_settings: dict[str, str] = field(
        default_factory=lambda: {"DETECT_FACES": "true", "MIN_CONFIDENCE": "30"}
    )


@dataclass
class StackUrls:
    api: str
    gallery: str
    s3: str
    rekognition: str


class LocalStack:
    """Start with ``start()`` (or ``with``); everything stops with ``stop()``."""

    def __init__(self, options: StackOptions | None = None):
        self.options = options or StackOptions()
        self._saved_environ: dict[str, str] | None = None
        self._stoppers: list = []

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from moto.server import ThreadedMotoServer

        # One line per request from moto's and Chalice's servers would drown the output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

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

        rekognition = LocalRekognition(s3_endpoint_url=self.s3_url, region=REGION).start()
        self._stoppers.append(rekognition.stop)
        self.rekognition = rekognition

        self._set_environment(rekognition.url)
        self._reset_embedded_store()
        session = boto3.session.Session()  # reads the environment just set
        self.s3 = session.client("s3")
        self.sqs = session.client("sqs")
        self.queue_url, self.queue_arn, self.dlq_url = self._create_resources()

        self.app_module = self._load_app()
        self._start_poller()
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

    def _set_environment(self, rekognition_url: str) -> None:
        options = self.options
        self._saved_environ = dict(os.environ)
        # A clean slate: the function must not see a real account's settings or credentials.
        for name in list(os.environ):
            if name.startswith("AWS_") or name in ("SEARCH_ENDPOINT", "QUEUE_ARN"):
                del os.environ[name]
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL_S3": self.s3_url,
                "AWS_ENDPOINT_URL_SQS": self.s3_url,
                "AWS_ENDPOINT_URL_REKOGNITION": rekognition_url,
                "QUEUE_NAME": options.queue_name,
                "BATCH_SIZE": str(options.batch_size),
                "SQLITE_PATH": str(options.data_dir / "images.sqlite3"),
                "UPLOAD_BUCKET": options.bucket,
                **({"SEARCH_ENDPOINT": options.search_endpoint} if options.search_endpoint else {}),
                **options.function_settings,
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
        self.s3.create_bucket(Bucket=options.bucket)
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
        self.s3.put_bucket_notification_configuration(
            Bucket=options.bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    }
                ]
            },
        )
        return queue_url, queue_arn, dlq_url

    def _queue_arn(self, queue_url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return attributes["Attributes"]["QueueArn"]

    def _load_app(self):
        """Import app.py after the environment is set, as Lambda does."""
        import app as app_module

        app_module = importlib.reload(app_module)
        return app_module

    def _start_poller(self) -> None:
        from localdev.poller import LocalEventSourceMapping

        poller = LocalEventSourceMapping(
            self.sqs,
            self.queue_url,
            self.queue_arn,
            self.app_module.index_images,
            batch_size=self.options.batch_size,
            region=REGION,
        ).start()
        self._stoppers.append(poller.stop)

    def _start_api(self) -> None:
        from chalice.config import Config
        from chalice.local import create_local_server

        config = Config.create(chalice_stage="dev", app_name="image-label-search")
        server = create_local_server(
            self.app_module.app, config, "127.0.0.1", self.options.api_port
        )
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
        self, keys: list[str], *, bucket: str | None = None, since: str = "", timeout: float = 120
    ) -> dict[str, dict]:
        """Poll the store until every key is indexed (at or after ``since``, so that a document
        left by an earlier run does not count); returns the documents by key.

        Raises TimeoutError naming the keys still missing.
        """
        store = self.app_module.components.store
        pending = {key: image_id(bucket or self.options.bucket, key) for key in keys}
        indexed: dict[str, dict] = {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
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

    def queue_depths(self) -> dict[str, int]:
        """Visible + in-flight messages of the queue and of its dead-letter queue."""

        def depth(url: str) -> int:
            names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
            return sum(int(attributes["Attributes"][name]) for name in names)

        return {"queue": depth(self.queue_url), "dlq": depth(self.dlq_url)}
