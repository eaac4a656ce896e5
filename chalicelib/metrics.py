"""CloudWatch metrics of each SQS batch, as one embedded-metric-format (EMF) log line.

Lambda sends stdout to CloudWatch Logs, which extracts metrics from any JSON line with an
``_aws`` member (CloudWatch User Guide, "Specification: Embedded metric format"): no
PutMetricData call, so no IAM action, no client and no latency on the batch. The line is
also an ordinary log event, queryable in Logs Insights with its request id.

Namespace ``ImageLabelSearch``, one dimension ``Stage``; the metrics are ``METRICS`` below.
EMF caps a metric's array at 100 values: a batch with more than 100 Rekognition latencies
(only possible with BATCH_SIZE above 100) writes the rest in further lines that carry only
``RekognitionLatency``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TextIO

from chalicelib.logs import invocation_fields

NAMESPACE = "ImageLabelSearch"
STAGE_DIMENSION = "Stage"
# "A metric can have up to 100 values" (EMF specification, MetricDefinition target members).
MAX_VALUES_PER_METRIC = 100
LATENCY = "RekognitionLatency"


class Unit(StrEnum):
    """The CloudWatch StandardUnit values these metrics use."""

    COUNT = "Count"
    MILLISECONDS = "Milliseconds"
    SECONDS = "Seconds"


@dataclass(frozen=True)
class Metric:
    name: str
    unit: Unit
    field: str  # the BatchFigures attribute it reports


# The README's "Monitoring and alarms" says what each one counts.
METRICS = (
    Metric("Messages", Unit.COUNT, "messages"),
    Metric("Indexed", Unit.COUNT, "indexed"),
    Metric("Deleted", Unit.COUNT, "deleted"),
    Metric("Skipped", Unit.COUNT, "skipped"),
    Metric("Failed", Unit.COUNT, "failed"),
    Metric("Throttled", Unit.COUNT, "throttled"),
    Metric(LATENCY, Unit.MILLISECONDS, "rekognition_ms"),
    Metric("OldestMessageAge", Unit.SECONDS, "oldest_message_age_seconds"),
)
UNITS = {metric.name: metric.unit for metric in METRICS}


@dataclass
class BatchFigures:
    messages: int  # SQS messages in the batch
    indexed: int = 0  # images labelled and written
    deleted: int = 0  # tombstones written
    skipped: int = 0  # image events acknowledged without work, with a reason
    failed: int = 0  # messages returned for retry
    throttled: int = 0  # images still throttled by Rekognition after botocore's retries
    rekognition_ms: list[float] = field(default_factory=list)  # one per image sent to it
    oldest_message_age_seconds: float | None = None  # None: no SentTimestamp in the batch


def oldest_message_age_seconds(records: Iterable[Mapping], now_ms: float) -> float | None:
    """Seconds since the oldest message of the batch was sent (its ``SentTimestamp``)."""
    sent = [
        int(attributes["SentTimestamp"])
        for record in records
        if (attributes := record.get("attributes") or {}).get("SentTimestamp", "").isdigit()
    ]
    return max(0.0, (now_ms - min(sent)) / 1000) if sent else None


def emf_documents(
    figures: BatchFigures,
    stage: str,
    timestamp_ms: int,
    properties: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The EMF documents of one batch: one, unless the latencies exceed one array."""
    values = {
        metric.name: value
        for metric in METRICS
        # None and []: no message timestamp, no image labelled (EMF wants a value).
        if (value := getattr(figures, metric.field)) not in (None, [])
    }
    latencies = values.pop(LATENCY, [])
    if latencies:
        values[LATENCY] = latencies[:MAX_VALUES_PER_METRIC]
    rest = [
        {LATENCY: latencies[start : start + MAX_VALUES_PER_METRIC]}
        for start in range(MAX_VALUES_PER_METRIC, len(latencies), MAX_VALUES_PER_METRIC)
    ]
    return [_document(part, stage, timestamp_ms, properties or {}) for part in [values, *rest]]


def _document(values: dict, stage: str, timestamp_ms: int, properties: Mapping) -> dict:
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[STAGE_DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": str(UNITS[name])} for name in values],
                }
            ],
        },
        STAGE_DIMENSION: stage,
        **properties,
        **values,
    }


class BatchMetrics:
    """Writes each batch's EMF documents to stdout, one JSON line each."""

    def __init__(
        self,
        stage: str,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._stage = stage
        self._stream = stream
        self._clock = clock

    def publish(self, figures: BatchFigures) -> None:
        stream = self._stream or sys.stdout  # read late: tests and Lambda may swap stdout
        timestamp_ms = int(self._clock() * 1000)
        for document in emf_documents(figures, self._stage, timestamp_ms, invocation_fields()):
            stream.write(json.dumps(document) + "\n")
        stream.flush()
