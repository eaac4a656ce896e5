"""Builds the function's collaborators on first use and keeps them for warm invocations.

Nothing here runs at import time, so a cold start pays only for what the invocation uses
(an SQS invocation never builds the S3 presigner, an API call never builds the thread pool).
A collaborator given to the constructor is the one used and is never built: explicit beats
the environment (tests, the local stack and the benchmarks pass their own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import cached_property
from typing import Any, TypedDict, Unpack

import boto3
from botocore.config import Config

from chalicelib.api.search_service import ImageLinks, SearchService
from chalicelib.api.uploads import UploadForms
from chalicelib.call_timing import AttemptTimer
from chalicelib.ingest import BatchIngestor
from chalicelib.late_events import LateEventCheck
from chalicelib.logs import get_logger
from chalicelib.metrics import BatchMetrics
from chalicelib.rate import CallRateLimiter, ingestion_rate
from chalicelib.redelivery import ThrottledRedelivery
from chalicelib.rekognition import LabelOptions, RekognitionLabeler
from chalicelib.search.cursor import CursorCodec, signing_key
from chalicelib.settings import Settings
from chalicelib.store.base import ImageStore


class Collaborators(TypedDict, total=False):
    """What a caller may give Components instead of letting it build from the settings: each
    key is the name of the property it stands for."""

    settings: Settings
    logger: logging.Logger
    session: boto3.session.Session
    rekognition: Any  # boto3 clients have no static type
    sqs: Any
    s3: Any
    store: ImageStore
    labeler: RekognitionLabeler
    rekognition_timer: AttemptTimer
    rekognition_pool: ThreadPoolExecutor
    metrics: BatchMetrics
    redelivery: ThrottledRedelivery | None
    search_service: SearchService
    upload_forms: UploadForms | None
    ingestor: BatchIngestor


class Components:
    def __init__(
        self,
        load_settings: Callable[[], Settings] = Settings.from_environ,
        **given: Unpack[Collaborators],
    ):
        # Settings are read on first use, not at import: in Lambda the environment is the same
        # either way, and chalice.test.Client sets the stage's variables after app.py is imported.
        self._load_settings = load_settings
        unknown = sorted(given.keys() - Collaborators.__optional_keys__)
        if unknown:  # a misspelt name would otherwise be built from the settings, silently
            raise TypeError(f"Components has no collaborator named {', '.join(unknown)}")
        # A cached_property reads the instance's dict first: what is put there now is what
        # every access returns, and the property's builder never runs.
        self.__dict__.update(given)

    @cached_property
    def settings(self) -> Settings:
        return self._load_settings()

    @cached_property
    def logger(self):
        return get_logger(self.settings.log_level)

    @cached_property
    def aws_config(self) -> Config:
        return Config(
            # Throttling and transient errors are retried with backoff by botocore itself.
            retries={
                "mode": self.settings.aws_retry_mode,
                "total_max_attempts": self.settings.aws_max_attempts,
            },
            # One connection per concurrent Rekognition call, or the pool would serialise them.
            max_pool_connections=max(10, self.settings.rekognition_concurrency),
        )

    @cached_property
    def session(self) -> boto3.session.Session:
        # Our own session, not boto3's module-level default: it reads the environment when this
        # object is built, so a process that starts several stacks (tests) gets the right one.
        return boto3.session.Session()

    @cached_property
    def rekognition(self):
        client = self.session.client(
            "rekognition", region_name=self.settings.region, config=self.aws_config
        )
        rate = ingestion_rate(self.settings)
        if rate is not None:
            # One limiter per execution environment: Lambda runs one invocation in each.
            CallRateLimiter(rate).attach(client)
        return client

    @cached_property
    def sqs(self):
        return self.session.client("sqs", region_name=self.settings.region, config=self.aws_config)

    @cached_property
    def s3(self):
        # SigV4 presigned URLs work in every region (SigV2 ones do not).
        config = self.aws_config.merge(Config(signature_version="s3v4"))
        return self.session.client("s3", region_name=self.settings.region, config=config)

    @cached_property
    def store(self) -> ImageStore:
        # Imported here, on first use: the Elasticsearch client and requests add about a third
        # to the function's import time, and a process on the embedded store never needs them.
        if not self.settings.search_endpoint:
            # Local runs only: the embedded store is not in the Lambda bundle, and Settings
            # refuse a deployed function without a search endpoint before this is reached.
            from localdev.embedded.sqlite_store import SqliteStore

            return SqliteStore(self.settings.sqlite_path)
        from chalicelib.search_client import create_search_client
        from chalicelib.store.elasticsearch_store import ElasticsearchStore

        return ElasticsearchStore(
            create_search_client(self.settings),
            self.settings.index_alias,
            self.settings.index_replicas,
        )

    @cached_property
    def labeler(self) -> RekognitionLabeler:
        settings = self.settings
        options = LabelOptions(
            max_labels=settings.max_labels,
            min_confidence=settings.min_confidence,
            image_properties=settings.detect_image_properties,
            text=settings.detect_text,
            moderation_labels=settings.detect_moderation_labels,
            faces=settings.detect_faces,
        )
        return RekognitionLabeler(self.rekognition, options)

    @cached_property
    def search_service(self) -> SearchService:
        settings = self.settings
        links = ImageLinks(self.s3, settings.presign_expiry_seconds, settings.presign_urls)
        cursors = CursorCodec(signing_key(settings.cursor_secret))
        return SearchService(self.store, links, settings.default_min_confidence, cursors)

    @cached_property
    def upload_forms(self) -> UploadForms | None:
        settings = self.settings
        if not settings.upload_bucket:
            return None
        return UploadForms(
            self.s3, settings.upload_bucket, settings.upload_prefix, settings.presign_expiry_seconds
        )

    @cached_property
    def metrics(self) -> BatchMetrics:
        # EMF lines on stdout (chalicelib/metrics.py); a local run may give it another stream.
        return BatchMetrics(self.settings.stage)

    @cached_property
    def ingestor(self) -> BatchIngestor:
        return BatchIngestor(
            labeler=self.labeler,
            store=self.store,
            executor=self.rekognition_pool,
            region=self.settings.region,
            logger=self.logger,
            image_bucket=self.settings.image_bucket,
            metrics=self.metrics,
            redelivery=self.redelivery,
            late_events=LateEventCheck(
                lambda: self.s3, timedelta(days=self.settings.tombstone_retention_days)
            ),
            call_timer=self.rekognition_timer,
            partial_batch_response=self.settings.partial_batch_response,
        )

    @cached_property
    def rekognition_pool(self) -> ThreadPoolExecutor:
        """The ingestor's Rekognition calls run here (a benchmark shuts it down between runs)."""
        return ThreadPoolExecutor(max_workers=self.settings.rekognition_concurrency)

    @cached_property
    def rekognition_timer(self) -> AttemptTimer:
        # Registered last on the client: the rate limiter's waits are not Rekognition's latency.
        return AttemptTimer().attach(self.rekognition)

    @cached_property
    def redelivery(self) -> ThrottledRedelivery | None:
        settings = self.settings
        # Only under a quota: then the role may send to its queue (localdev/aws/policy.py). And
        # only with partial batch responses: a raised BatchNotFullyProcessed would retry the
        # originals of copies already sent (preflight refuses the pair as well).
        if settings.rekognition_tps and settings.partial_batch_response:
            return ThrottledRedelivery(self.sqs)
        return None
