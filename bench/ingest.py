"""Ingest throughput of one handler invocation, against the sequential baseline.

    .venv/bin/python -m bench.ingest [--batches 1,10,100] [--latency 0.2] [--pools 8,10]

The measured path is ``app.index_images`` (the Chalice SQS handler) with the real collaborators
from ``chalicelib.components``: ``BatchIngestor`` with its thread pool, ``RekognitionLabeler``
and ``ElasticsearchStore`` on a real OpenSearch node. Only the Rekognition client is a fake,
answering every DetectLabels after a fixed latency (a realistic 200 ms by default).

The baseline is what the original Node.js guide did, implemented here: for each message, one
Rekognition call after the other and one index request per image.

The ideal for a batch of ``n`` images and a pool of ``p`` workers is ``ceil(n / p)`` rounds of
the Rekognition latency, so ``n / (ceil(n / p) * latency)`` images per second; the baseline's
best is ``1 / latency``. With the default pool of 10 (REKOGNITION_CONCURRENCY), a batch of 10
takes one round: its ideal speed-up over the baseline is 10x. A pool of 8 is measured beside it
to show the cost of a pool smaller than the batch: two rounds, an ideal of 5x.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import threading
import time
import uuid
from datetime import UTC, datetime

from bench import nodes
from bench.report import Report, Stopwatch, median, ms, ratio

DEFAULT_BATCHES = (1, 10, 100)
# Repetitions per batch size: bounded, and more for the quick sizes.
REPETITIONS = {1: 9, 10: 5, 100: 3}
BUCKET = "bench-photos"

# A realistic DetectLabels answer: parents, aliases, categories, one label with instances.
DETECT_LABELS_RESPONSE = {
    "Labels": [
        {
            "Name": name,
            "Confidence": confidence,
            "Instances": [
                {
                    "Confidence": confidence,
                    "BoundingBox": {"Width": 0.4, "Height": 0.5, "Left": 0.1, "Top": 0.2},
                }
            ]
            if name == "Dog"
            else [],
            "Parents": [{"Name": parent} for parent in parents],
            "Aliases": [{"Name": alias} for alias in aliases],
            "Categories": [{"Name": "Animals and Pets"}],
        }
        for name, confidence, parents, aliases in [
            ("Dog", 98.1, ("Animal", "Canine", "Mammal", "Pet"), ("Doggy",)),
            ("Animal", 98.1, (), ()),
            ("Canine", 98.1, ("Animal", "Mammal"), ()),
            ("Mammal", 98.1, ("Animal",), ()),
            ("Pet", 98.1, ("Animal",), ()),
            ("Puppy", 91.4, ("Animal", "Canine", "Dog", "Mammal", "Pet"), ()),
            ("Grass", 88.0, ("Plant",), ("Lawn",)),
            ("Plant", 88.0, (), ()),
            ("Outdoors", 81.2, (), ()),
            ("Park", 72.5, ("Outdoors", "Nature"), ()),
        ]
    ],
    "LabelModelVersion": "3.0",
}


class SlowRekognition:
    """A Rekognition client whose DetectLabels takes ``latency`` seconds (sleeping, so it
    releases the GIL as a network call does). Counts calls and the most calls in flight."""

    def __init__(self, latency: float):
        self.latency = latency
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def detect_labels(self, **request):
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.latency)
            return json.loads(json.dumps(DETECT_LABELS_RESPONSE))  # a fresh copy, as parsed
        finally:
            with self._lock:
                self.in_flight -= 1


def sqs_event(keys: list[str]) -> dict:
    """A Lambda SQS event with one S3 ObjectCreated notification per key."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    records = []
    for number, key in enumerate(keys):
        body = {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-1",
                    "eventTime": now,
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                        "object": {
                            "key": key,
                            "size": 120_000,
                            "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                            "sequencer": f"{number + 1:016X}",
                        },
                    },
                }
            ]
        }
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"receipt-{number}",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def quiet_function_logs() -> None:
    """Send the function's JSON log lines to /dev/null, still formatting each one (as Lambda
    pays for them), so that they do not drown the table."""
    from chalicelib.logs import LOGGER_NAME, JsonFormatter

    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    sink = logging.StreamHandler(io.TextIOWrapper(open("/dev/null", "wb"), encoding="utf-8"))  # noqa: SIM115
    sink.setFormatter(JsonFormatter())
    logger.addHandler(sink)
    logger.propagate = False


class Harness:
    """The app's handler wired to a real node and a slow fake Rekognition."""

    def __init__(self, url: str, alias: str, latency: float, pool: int):
        import app as app_module
        from chalicelib.call_timing import WallTimer
        from chalicelib.components import Components
        from chalicelib.settings import Settings

        self.settings = Settings(
            region="us-east-1",
            search_endpoint=url,
            index_alias=alias,
            rekognition_concurrency=pool,
            log_level="INFO",
        )
        self.rekognition = SlowRekognition(latency)
        self.components = Components(
            settings=self.settings,
            rekognition=self.rekognition,  # the fake, not boto3's client
            # The fake is no botocore client: its calls are timed by the wall clock.
            rekognition_timer=WallTimer(),
        )
        self.app_module = app_module
        app_module.components = self.components

    def invoke(self, keys: list[str]) -> dict:
        response = self.app_module.index_images(sqs_event(keys), None)
        if response["batchItemFailures"]:
            raise RuntimeError(f"the handler failed messages: {response}")
        return response

    def sequential_baseline(self, keys: list[str]) -> None:
        """The original guide: per message, one DetectLabels, then one index request."""
        from chalicelib import documents
        from chalicelib.events import parse_message

        labeler = self.components.labeler
        client = self.components.store.client
        for record in sqs_event(keys)["Records"]:
            for event in parse_message(record["body"]):
                analysis = labeler.analyze(event.bucket, event.key, event.version_id)
                document = documents.image_document(event, analysis, "us-east-1", datetime.now(UTC))
                client.index(
                    index=self.settings.index_alias,
                    id=documents.image_id(event.bucket, event.key),
                    body=document,
                )

    def close(self) -> None:
        self.components.rekognition_pool.shutdown(wait=True)


def ideal_rate(batch: int, pool: int, latency: float) -> float:
    """Images per second when only the Rekognition rounds cost time."""
    return batch / (math.ceil(batch / pool) * latency)


def run(args) -> Report:
    report = Report("ingest")
    report.parameters = {
        "latency_s": args.latency,
        "batches": args.batches,
        "pools": args.pools,
        "repetitions": {b: REPETITIONS.get(b, 3) for b in args.batches},
    }
    alias = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    rows = []
    with nodes.opensearch(args.opensearch_url, args.heap) as url:
        report.describe(url)
        es = nodes.client(url)
        quiet_function_logs()
        baselines: dict[int, float] = {}
        try:
            for pool in args.pools:
                harness = Harness(url, alias, args.latency, pool)
                harness.invoke([f"warm-up/{pool}/{uuid.uuid4().hex}.jpg"])  # creates the index
                for batch in args.batches:
                    handler_times, baseline_times, overlap = [], [], 0
                    for _ in range(REPETITIONS.get(batch, 3)):
                        keys = [f"run/{uuid.uuid4().hex}/{i:04d}.jpg" for i in range(batch)]
                        # The baseline is the same whatever the pool: measure it once.
                        if batch not in baselines:
                            base_keys = [f"base/{uuid.uuid4().hex}/{i}.jpg" for i in range(batch)]
                            with Stopwatch() as watch:
                                harness.sequential_baseline(base_keys)
                            baseline_times.append(watch.seconds)
                        harness.rekognition.most_in_flight = 0
                        with Stopwatch() as watch:
                            harness.invoke(keys)
                        handler_times.append(watch.seconds)
                        overlap = max(overlap, harness.rekognition.most_in_flight)
                    if batch not in baselines:
                        baselines[batch] = batch / median(baseline_times)
                    rate = batch / median(handler_times)
                    ideal = ideal_rate(batch, pool, args.latency)
                    rounds = math.ceil(batch / pool)
                    rows.append(
                        {
                            "pool": pool,
                            "batch": batch,
                            "handler_img_s": rate,
                            "baseline_img_s": baselines[batch],
                            "speedup_vs_baseline": ratio(rate, baselines[batch]),
                            "ideal_img_s": ideal,
                            "ideal_speedup": ratio(ideal, 1 / args.latency),
                            "of_ideal": ratio(rate, ideal),
                            "handler_p50_ms": ms(median(handler_times)),
                            "not_rekognition_ms": ms(median(handler_times) - rounds * args.latency),
                            "max_in_flight": overlap,
                        }
                    )
                    print(f"pool {pool} batch {batch}: {rate:.1f} img/s", flush=True)
                harness.close()
        finally:
            nodes.drop_alias(es, alias)

    report.add_rows("throughput (images per second, median of the repetitions)", rows)
    for row in rows:
        report.goal(
            f"pool {row['pool']}, batch {row['batch']}: >= 0.8x ideal",
            f">= {0.8 * row['ideal_img_s']:.1f} img/s",
            f"{row['handler_img_s']:.1f} img/s ({row['of_ideal']:.2f}x ideal)",
            row["of_ideal"] >= 0.8,
            why=f"the handler's own work took {row['not_rekognition_ms']:.0f} ms beside the "
            "Rekognition rounds (not_rekognition_ms: parsing, _mget, _bulk, logging)",
        )
        # Only a pool that takes a batch of 10 in one round can reach 8x (its ideal is 10x).
        if row["batch"] == 10 and row["ideal_speedup"] >= 10:
            report.goal(
                f"pool {row['pool']}, batch 10: >= 8x the one-at-a-time baseline",
                ">= 8x",
                f"{row['speedup_vs_baseline']:.2f}x (ideal {row['ideal_speedup']:.1f}x)",
                row["speedup_vs_baseline"] >= 8,
                why="the handler's own work (not_rekognition_ms) cost more than the 20% "
                "headroom between 8x and the ideal 10x",
            )
    report.note(
        "ideal = batch / (ceil(batch / pool) x latency): with REKOGNITION_CONCURRENCY=10 (the "
        "default) a batch of 10 takes one Rekognition round, ideal 10x over the one-at-a-time "
        "baseline; with 8 it takes two rounds, ideal 5x, so no 8x goal is set for pools below 10."
    )
    report.note(
        "not_rekognition_ms = handler time - rounds x latency: parsing, documents, one _mget "
        "and one _bulk, logging. The baseline pays one index request per image instead."
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    nodes.add_node_arguments(parser)
    parser.add_argument("--latency", type=float, default=0.2, help="DetectLabels latency (s)")
    parser.add_argument(
        "--batches", type=_ints, default=list(DEFAULT_BATCHES), help="batch sizes, e.g. 1,10,100"
    )
    parser.add_argument(
        "--pools", type=_ints, default=[8, 10], help="REKOGNITION_CONCURRENCY values, e.g. 8,10"
    )
    args = parser.parse_args(argv)
    run(args).write()
    return 0


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


if __name__ == "__main__":
    raise SystemExit(main())
