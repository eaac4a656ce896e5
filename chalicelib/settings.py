"""Every setting the function reads, parsed from the environment in one place.

Chalice copies the stage's ``environment_variables`` from ``.chalice/config.json`` into
``os.environ`` before it imports ``app.py``, so the same names work in Lambda, in
``chalice local``, in the local pipeline and in tests. The README's configuration reference
lists each variable; keep the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

# Rekognition reads at most 15 MB from an S3 object (DetectLabels' documented limit).
REKOGNITION_MAX_S3_OBJECT_BYTES = 15 * 1024 * 1024

# HMAC-SHA256 keys shorter than its 32-byte output weaken it; the variable is text, so 32
# characters of a generated token (secrets.token_urlsafe(32) gives 43) at least.
MIN_CURSOR_SECRET_LENGTH = 32


class ConfigurationError(ValueError):
    """An environment variable holds a value the function cannot use."""


@dataclass(frozen=True)
class Settings:
    region: str = "us-east-1"

    # Event source (read by app.py when it registers the SQS handler).
    queue_name: str = "image-label-search-uploads"
    queue_arn: str | None = None
    batch_size: int = 10
    max_batching_window_seconds: int = 0
    # Lambda only honours batchItemFailures when the event source mapping has
    # FunctionResponseTypes=["ReportBatchItemFailures"]. Without it a returned list is ignored
    # and failed messages would be deleted, so this switch makes the handler raise instead
    # (the whole batch is retried, which is safe because writes are idempotent).
    partial_batch_response: bool = True
    # The bucket whose events this stage indexes; events for any other bucket are skipped
    # (logged) instead of labelled, when set. Deploy sets it; local runs leave it unset.
    image_bucket: str | None = None

    # Rekognition.
    max_labels: int = 25
    min_confidence: float = 70.0
    detect_image_properties: bool = False
    detect_text: bool = False
    detect_moderation_labels: bool = False
    detect_faces: bool = False
    # As many concurrent calls as a batch has messages: a batch of 10 takes one round trip.
    rekognition_concurrency: int = 10
    # The account's Rekognition quota in calls per second (Service Quotas, per operation), or
    # None: no bound, as before. When set, chalicelib/rate.py derives the event source's
    # maximum concurrency and each execution environment's call rate from it.
    rekognition_tps: float | None = None
    # "adaptive" (client-side rate limiting after a throttle) when rekognition_tps is set.
    aws_retry_mode: str = "standard"
    aws_max_attempts: int = 6
    # How long a tombstone is kept (compact removes older ones) and the age beyond which a
    # create with no stored state is checked against S3 first (chalicelib/late_events.py).
    # Preflight requires it to cover the queue's plus the DLQ's retention (4 + 14 days).
    tombstone_retention_days: int = 30

    # Search cluster. No endpoint means the embedded store, which only local runs have: a
    # deployed function refuses to start without an endpoint (see _search_endpoint).
    search_endpoint: str | None = None
    search_username: str | None = None
    search_password: str | None = None
    search_timeout_seconds: float = 10.0
    index_alias: str = "imagerepository"
    index_replicas: int = 1
    # The embedded store's database file (relative to the working directory) when unset.
    sqlite_path: str = "data/images.sqlite3"

    # Search API.
    default_min_confidence: float = 0.0
    presign_urls: bool = True
    presign_expiry_seconds: int = 900
    # "iam", "api_key" or "none". Closed unless a stage says otherwise; chalice's local server
    # enforces none of them, so local runs are unaffected.
    api_auth: str = "iam"
    cors_allow_origin: str | None = None
    # Browser uploads through presigned POST forms (the gallery's upload button). Off unless
    # the stage names the bucket; the function's role then also needs s3:PutObject on it.
    upload_bucket: str | None = None
    upload_prefix: str = "uploads/"
    # Signs the ``next`` tokens of /search (see chalicelib/search/cursor.py). Required in
    # Lambda; outside it an unset secret means a fixed development key (local runs only).
    cursor_secret: str | None = field(default=None, repr=False)

    log_level: str = "INFO"
    # The Stage dimension of the batch metrics (chalicelib/metrics.py); deploy sets STAGE.
    stage: str = "local"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Env(os.environ if environ is None else environ)
        defaults = cls()
        rekognition_tps = env.optional_number("REKOGNITION_TPS", 1, 10_000)
        return cls(
            region=env.text("AWS_REGION") or env.text("AWS_DEFAULT_REGION") or defaults.region,
            queue_name=env.text("QUEUE_NAME") or defaults.queue_name,
            queue_arn=env.text("QUEUE_ARN"),
            batch_size=env.integer("BATCH_SIZE", defaults.batch_size, 1, 10_000),
            max_batching_window_seconds=env.integer(
                "MAX_BATCHING_WINDOW_SECONDS", defaults.max_batching_window_seconds, 0, 300
            ),
            partial_batch_response=env.flag(
                "PARTIAL_BATCH_RESPONSE", defaults.partial_batch_response
            ),
            image_bucket=env.text("IMAGE_BUCKET"),
            max_labels=env.integer("MAX_LABELS", defaults.max_labels, 1, 1000),
            min_confidence=env.number("MIN_CONFIDENCE", defaults.min_confidence, 0, 100),
            detect_image_properties=env.flag(
                "DETECT_IMAGE_PROPERTIES", defaults.detect_image_properties
            ),
            detect_text=env.flag("DETECT_TEXT", defaults.detect_text),
            detect_moderation_labels=env.flag(
                "DETECT_MODERATION_LABELS", defaults.detect_moderation_labels
            ),
            detect_faces=env.flag("DETECT_FACES", defaults.detect_faces),
            rekognition_concurrency=env.integer(
                "REKOGNITION_CONCURRENCY", defaults.rekognition_concurrency, 1, 64
            ),
            rekognition_tps=rekognition_tps,
            aws_retry_mode=env.choice(
                "AWS_RETRY_MODE",
                "adaptive" if rekognition_tps else defaults.aws_retry_mode,
                ("standard", "adaptive"),
            ),
            aws_max_attempts=env.integer("AWS_MAX_ATTEMPTS", defaults.aws_max_attempts, 1, 20),
            tombstone_retention_days=env.integer(
                "TOMBSTONE_RETENTION_DAYS", defaults.tombstone_retention_days, 1, 3650
            ),
            search_endpoint=_search_endpoint(env),
            search_username=env.text("SEARCH_USERNAME"),
            search_password=env.text("SEARCH_PASSWORD"),
            search_timeout_seconds=env.number(
                "SEARCH_TIMEOUT_SECONDS", defaults.search_timeout_seconds, 0.1, 120
            ),
            index_alias=env.text("INDEX_ALIAS") or defaults.index_alias,
            index_replicas=env.integer("INDEX_REPLICAS", defaults.index_replicas, 0, 5),
            sqlite_path=env.text("SQLITE_PATH") or defaults.sqlite_path,
            default_min_confidence=env.number(
                "DEFAULT_MIN_CONFIDENCE", defaults.default_min_confidence, 0, 100
            ),
            presign_urls=env.flag("PRESIGN_URLS", defaults.presign_urls),
            # Short-lived on purpose: a leaked result page stops granting access quickly.
            presign_expiry_seconds=env.integer(
                "PRESIGN_EXPIRY_SECONDS", defaults.presign_expiry_seconds, 1, 3600
            ),
            api_auth=env.choice("API_AUTH", defaults.api_auth, ("iam", "api_key", "none")),
            cors_allow_origin=env.text("CORS_ALLOW_ORIGIN"),
            upload_bucket=env.text("UPLOAD_BUCKET"),
            upload_prefix=env.text("UPLOAD_PREFIX") or defaults.upload_prefix,
            cursor_secret=_cursor_secret(env),
            log_level=env.choice(
                "LOG_LEVEL", defaults.log_level, ("DEBUG", "INFO", "WARNING", "ERROR")
            ),
            stage=env.text("STAGE") or defaults.stage,
        )


def _search_endpoint(env: _Env) -> str | None:
    """The cluster's URL; in Lambda (which sets AWS_LAMBDA_FUNCTION_NAME) it is required.

    Without one, a deployed function would fall back to the embedded store, which is not in the
    Lambda bundle (and would lose every write with its execution environment). Failing here, when
    app.py is imported, makes a plain ``chalice deploy`` fail on its first invocation with this
    message instead of half-working.
    """
    endpoint = env.text("SEARCH_ENDPOINT")
    function = env.text("AWS_LAMBDA_FUNCTION_NAME")
    if endpoint is None and function is not None:
        raise ConfigurationError(
            f"SEARCH_ENDPOINT is not set for the deployed function {function}; the embedded "
            "store is for local runs only. Deploy with `make deploy STAGE=<stage>`, which "
            "creates the search domain and sets SEARCH_ENDPOINT, or set SEARCH_ENDPOINT in "
            ".chalice/config.json under stages.<stage>.environment_variables"
        )
    return endpoint


def _cursor_secret(env: _Env) -> str | None:
    """The secret that signs ``next`` tokens; in Lambda it is required, like SEARCH_ENDPOINT.

    Without it a deployed API would sign with a key anyone can compute from the source, which
    makes the signature worthless; failing at import says so on the first invocation.
    """
    secret = env.text("CURSOR_SECRET")
    function = env.text("AWS_LAMBDA_FUNCTION_NAME")
    if secret is None and function is not None:
        raise ConfigurationError(
            f"CURSOR_SECRET is not set for the deployed function {function}: set it per stage "
            "(at least 32 characters, generated once, e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))') in stages.<stage>.environment_variables"
        )
    if secret is not None and len(secret) < MIN_CURSOR_SECRET_LENGTH:
        raise ConfigurationError(
            f"CURSOR_SECRET must be at least {MIN_CURSOR_SECRET_LENGTH} characters, "
            f"got {len(secret)}"
        )
    return secret


class _Env:
    """Typed, validated reads of environment variables with named errors."""

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(
                f"{name} must be an integer between {low} and {high}, got {raw!r}"
            ) from None
        return self._in_range(name, value, low, high)

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(
                f"{name} must be a number between {low:g} and {high:g}, got {raw!r}"
            ) from None
        return self._in_range(name, value, low, high)

    def optional_number(self, name: str, low: float, high: float) -> float | None:
        """A number when the variable is set, None (the setting is off) when it is not."""
        if self.text(name) is None:
            return None
        return self.number(name, low, low, high)

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"{name} must be true or false, got {raw!r}")

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        raw = self.text(name)
        if raw is None:
            return default
        for option in allowed:
            if raw.lower() == option.lower():
                return option
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")

    @staticmethod
    def _in_range(name, value, low, high):
        if not low <= value <= high:
            raise ConfigurationError(f"{name} must be between {low} and {high}, got {value}")
        return value
