"""Every setting the function reads, parsed from the environment in one place.

Chalice copies the stage's ``environment_variables`` from ``.chalice/config.json`` into
``os.environ`` before it imports ``app.py``, so the same names work in Lambda, in
``chalice local``, in the local pipeline and in tests.

``VARIABLES`` is the one table of those environment variables: each row names the variable,
the ``Settings`` field it fills, its parser with the allowed values, and what it means. It
drives ``Settings.from_environ``, the deploy tooling's reads of a stage's variables
(``localdev/aws/chalice_config.py``) and the README's configuration table
(``python -m localdev.config_docs``; tests/unit/test_readme_config.py fails when it is stale).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

# Rekognition reads at most 15 MB from an S3 object (DetectLabels' documented limit).
REKOGNITION_MAX_S3_OBJECT_BYTES = 15 * 1024 * 1024

# HMAC-SHA256 keys shorter than its 32-byte output weaken it; the variable is text, so 32
# characters of a generated token (secrets.token_urlsafe(32) gives 43) at least.
MIN_CURSOR_SECRET_LENGTH = 32

API_AUTH_MODES = ("iam", "api_key", "none")
# The words a flag accepts, in any case.
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
EN_DASH = "\u2013"  # between a range's bounds, as the README typesets them


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
    # deployed function refuses to start without an endpoint (its row in VARIABLES, below).
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
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for variable in _READ_ORDER:
            values[variable.setting] = variable.read(environ, values)
        return cls(**values)


_DEFAULTS = Settings()


# -- parsers: a variable's raw text (stripped, never blank) -> its setting's value ------------


@dataclass(frozen=True)
class Text:
    min_length: int = 0

    def parse(self, name: str, raw: str) -> str:
        if len(raw) < self.min_length:
            raise ConfigurationError(
                f"{name} must be at least {self.min_length} characters, got {len(raw)}"
            )
        return raw

    def accepts(self) -> str:
        return f"text of {self.min_length}+ characters" if self.min_length else "text"


@dataclass(frozen=True)
class Integer:
    low: int
    high: int

    def parse(self, name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(
                f"{name} must be an integer between {self.low} and {self.high}, got {raw!r}"
            ) from None
        return _in_range(name, value, self.low, self.high)

    def accepts(self) -> str:
        return f"integer {self.low:,}{EN_DASH}{self.high:,}"


@dataclass(frozen=True)
class Number:
    # Bounds keep the type they are written with: an int bound reads "0", not "0.0", in errors.
    low: float
    high: float

    def parse(self, name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(
                f"{name} must be a number between {self.low:g} and {self.high:g}, got {raw!r}"
            ) from None
        return _in_range(name, value, self.low, self.high)

    def accepts(self) -> str:
        return f"number {self.low:,g}{EN_DASH}{self.high:,g}"


@dataclass(frozen=True)
class Flag:
    def parse(self, name: str, raw: str) -> bool:
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise ConfigurationError(f"{name} must be true or false, got {raw!r}")

    def accepts(self) -> str:
        return "`true` or `false`"


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def parse(self, name: str, raw: str) -> str:
        for option in self.options:
            if raw.lower() == option.lower():
                return option
        raise ConfigurationError(f"{name} must be one of {', '.join(self.options)}, got {raw!r}")

    def accepts(self) -> str:
        return ", ".join(f"`{option}`" for option in self.options)


Parser = Text | Integer | Number | Flag | Choice
ParserKind = TypeVar("ParserKind", Text, Integer, Number, Flag, Choice)


def _in_range(name, value, low, high):
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, got {value}")
    return value


# -- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DerivedDefault:
    """A default computed from another setting's value (which from_environ reads first)."""

    setting: str
    rule: Callable[[Any], Any]


@dataclass(frozen=True)
class Variable:
    """One environment variable: the setting it fills, how it is parsed, what it means."""

    name: str
    setting: str  # the Settings field
    parser: Parser
    meaning: str  # one line, Markdown: the README's "meaning" column
    # Read, in order, when ``name`` is unset (AWS_REGION falls back to AWS_DEFAULT_REGION).
    fallbacks: tuple[str, ...] = ()
    # Lambda sets AWS_LAMBDA_FUNCTION_NAME; a variable required there refuses to start the
    # function without it. The text continues "<NAME> is not set for the deployed function <f>".
    required_in_lambda: str | None = None
    # None: the field's default.
    derived_default: DerivedDefault | None = None
    # The README's "default" column when the field's default does not say it all.
    shown_default: str | None = None

    def raw(self, environ: Mapping[str, str]) -> str | None:
        """The variable's stripped text, or None when it (and every fallback) is unset or blank."""
        for name in (self.name, *self.fallbacks):
            value = environ.get(name, "").strip()
            if value:
                return value
        return None

    def default(self, read_before: Mapping[str, Any] | None = None) -> Any:
        if self.derived_default is not None:
            derived = self.derived_default
            return derived.rule((read_before or {}).get(derived.setting))
        return getattr(_DEFAULTS, self.setting)

    def read(self, environ: Mapping[str, str], read_before: Mapping[str, Any] | None = None) -> Any:
        raw = self.raw(environ)
        if raw is not None:
            return self.parser.parse(self.name, raw)
        function = environ.get("AWS_LAMBDA_FUNCTION_NAME", "").strip()
        if self.required_in_lambda is not None and function:
            raise ConfigurationError(
                f"{self.name} is not set for the deployed function {function}"
                f"{self.required_in_lambda}"
            )
        return self.default(read_before)


# In the order of Settings' fields (make run lists the settings that differ in this order).
VARIABLES: tuple[Variable, ...] = (
    Variable(
        "AWS_REGION",
        "region",
        Text(),
        "region for Rekognition and the stored object URL (never a message's `awsRegion`)",
        fallbacks=("AWS_DEFAULT_REGION",),
        shown_default="set by Lambda (else `AWS_DEFAULT_REGION`, else `us-east-1`)",
    ),
    Variable(
        "QUEUE_NAME",
        "queue_name",
        Text(),
        "SQS queue the handler consumes (same account and region)",
    ),
    Variable("QUEUE_ARN", "queue_arn", Text(), "queue ARN; wins over `QUEUE_NAME` when set"),
    Variable(
        "BATCH_SIZE",
        "batch_size",
        Integer(1, 10_000),
        "messages per invocation (above 10 needs a batching window)",
    ),
    Variable(
        "MAX_BATCHING_WINDOW_SECONDS",
        "max_batching_window_seconds",
        Integer(0, 300),
        "how long Lambda gathers a batch",
    ),
    Variable(
        "PARTIAL_BATCH_RESPONSE",
        "partial_batch_response",
        Flag(),
        "return `batchItemFailures`; needs `ReportBatchItemFailures` on the event source "
        "mapping. `false` makes the handler raise when any message fails, so the whole batch is "
        "retried (safe: writes are idempotent)",
    ),
    Variable(
        "IMAGE_BUCKET",
        "image_bucket",
        Text(),
        "the bucket whose events this stage indexes (set by deploy); events for other buckets "
        "are skipped with a reason",
    ),
    Variable("MAX_LABELS", "max_labels", Integer(1, 1000), "`MaxLabels` for DetectLabels"),
    Variable(
        "MIN_CONFIDENCE",
        "min_confidence",
        Number(0, 100),
        "`MinConfidence` for DetectLabels and DetectModerationLabels",
    ),
    Variable(
        "DETECT_IMAGE_PROPERTIES",
        "detect_image_properties",
        Flag(),
        "also request `IMAGE_PROPERTIES` (dominant colours, quality)",
    ),
    Variable(
        "DETECT_TEXT",
        "detect_text",
        Flag(),
        "also call DetectText (lines are stored and searchable)",
    ),
    Variable(
        "DETECT_MODERATION_LABELS",
        "detect_moderation_labels",
        Flag(),
        "also call DetectModerationLabels",
    ),
    Variable("DETECT_FACES", "detect_faces", Flag(), "also call DetectFaces (count and boxes)"),
    Variable(
        "REKOGNITION_CONCURRENCY",
        "rekognition_concurrency",
        Integer(1, 64),
        "concurrent Rekognition calls per invocation",
    ),
    Variable(
        "REKOGNITION_TPS",
        "rekognition_tps",
        Number(1, 10_000),
        "the account's Rekognition quota per Detect* operation, in calls/s; bounds the event "
        "source's concurrency and each invocation's call rate, and sends throttled messages "
        "back delayed ([Rekognition quota and floods](#rekognition-quota-and-floods)); unset: "
        "unbounded, as before",
    ),
    Variable(
        "AWS_RETRY_MODE",
        "aws_retry_mode",
        Choice(("standard", "adaptive")),
        "botocore retry mode",
        derived_default=DerivedDefault(
            "rekognition_tps", lambda tps: "adaptive" if tps else Settings.aws_retry_mode
        ),
        shown_default="`standard` (`adaptive` with `REKOGNITION_TPS`)",
    ),
    Variable(
        "AWS_MAX_ATTEMPTS",
        "aws_max_attempts",
        Integer(1, 20),
        "botocore attempts per call, including the first",
    ),
    Variable(
        "TOMBSTONE_RETENTION_DAYS",
        "tombstone_retention_days",
        Integer(1, 3650),
        "days a tombstone is kept (`make compact`); a create older than this with no stored "
        "state is indexed only if S3 still serves it; at least the queue's + DLQ's retention "
        "(18 days) ([Operations](#operations-backfill-redrive-relabel-compact))",
    ),
    Variable(
        "SEARCH_ENDPOINT",
        "search_endpoint",
        Text(),
        "Elasticsearch/OpenSearch URL, e.g. `https://search-…es.amazonaws.com`; unset: the "
        "embedded store (local runs only)",
        # Without one, a deployed function would fall back to the embedded store, which is not
        # in the Lambda bundle (and would lose every write with its execution environment).
        # Failing when app.py is imported makes a plain ``chalice deploy`` fail on its first
        # invocation with this message instead of half-working.
        required_in_lambda="; the embedded store is for local runs only. Deploy with "
        "`make deploy STAGE=<stage>`, which creates the search domain and sets SEARCH_ENDPOINT, "
        "or set SEARCH_ENDPOINT in .chalice/config.json under "
        "stages.<stage>.environment_variables",
    ),
    Variable(
        "SEARCH_USERNAME",
        "search_username",
        Text(),
        "basic auth user instead of SigV4 (fine-grained access control)",
    ),
    Variable(
        "SEARCH_PASSWORD",
        "search_password",
        Text(),
        "basic auth password, with `SEARCH_USERNAME`",
    ),
    Variable(
        "SEARCH_TIMEOUT_SECONDS",
        "search_timeout_seconds",
        Number(0.1, 120),
        "per-request timeout to the cluster",
    ),
    Variable("INDEX_ALIAS", "index_alias", Text(), "alias that reads and writes go through"),
    Variable(
        "INDEX_REPLICAS",
        "index_replicas",
        Integer(0, 5),
        "replicas of the index (0 on a single-node domain, or it stays yellow)",
    ),
    Variable(
        "SQLITE_PATH",
        "sqlite_path",
        Text(),
        "the embedded store's file, used when `SEARCH_ENDPOINT` is unset",
    ),
    Variable(
        "DEFAULT_MIN_CONFIDENCE",
        "default_min_confidence",
        Number(0, 100),
        "`/search`'s `min_confidence` when the caller gives none",
    ),
    Variable(
        "PRESIGN_URLS",
        "presign_urls",
        Flag(),
        "return presigned GET URLs (the bucket is private)",
    ),
    Variable(
        "PRESIGN_EXPIRY_SECONDS",
        "presign_expiry_seconds",
        # Short-lived on purpose: a leaked result page stops granting access quickly.
        Integer(1, 3600),
        "lifetime of presigned URLs and upload forms",
    ),
    Variable(
        "API_AUTH",
        "api_auth",
        Choice(API_AUTH_MODES),
        "who may call the API ([Search API](#search-api))",
    ),
    Variable(
        "CORS_ALLOW_ORIGIN",
        "cors_allow_origin",
        Text(),
        "allowed origin for browser calls; no CORS headers when unset",
    ),
    Variable(
        "UPLOAD_BUCKET",
        "upload_bucket",
        Text(),
        "enables `POST /uploads` for this bucket (needs `s3:PutObject` on it)",
    ),
    Variable("UPLOAD_PREFIX", "upload_prefix", Text(), "key prefix of uploaded images"),
    Variable(
        "CURSOR_SECRET",
        "cursor_secret",
        # Without it a deployed API would sign with a key anyone can compute from the source,
        # which makes the signature worthless; failing at import says so on the first call.
        Text(min_length=MIN_CURSOR_SECRET_LENGTH),
        "signs `next` tokens; deploy generates it once per stage and reads it back from the "
        "deployed function on every redeploy",
        required_in_lambda=": set it per stage (at least "
        f"{MIN_CURSOR_SECRET_LENGTH} characters, generated once, e.g. python -c 'import "
        "secrets; print(secrets.token_urlsafe(32))') in stages.<stage>.environment_variables",
    ),
    Variable(
        "LOG_LEVEL",
        "log_level",
        Choice(("DEBUG", "INFO", "WARNING", "ERROR")),
        "log level of every function",
    ),
    Variable(
        "STAGE",
        "stage",
        Text(),
        "the `Stage` dimension of the batch metrics (set by deploy)",
    ),
)

_BY_NAME = {variable.name: variable for variable in VARIABLES}
# The settings a default is derived from come first, the rest in the table's order.
_DERIVED_FROM = {v.derived_default.setting for v in VARIABLES if v.derived_default is not None}
_READ_ORDER = sorted(VARIABLES, key=lambda variable: variable.setting not in _DERIVED_FROM)


def variable_named(name: str) -> Variable:
    """The table's row for the environment variable ``name``."""
    return _BY_NAME[name]


def parser_of(name: str, kind: type[ParserKind]) -> ParserKind:
    """The parser of ``name``'s row, as the kind the caller relies on (its bounds, say)."""
    parser = variable_named(name).parser
    if not isinstance(parser, kind):
        raise TypeError(f"{name} is parsed as {type(parser).__name__}, not {kind.__name__}")
    return parser
