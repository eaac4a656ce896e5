"""A flood at a Rekognition quota: N images through S3 -> SQS -> K concurrent pollers.

    .venv/bin/python -m bench.flood [--images 3000] [--pollers 20] [--quota 25]

The local stack (moto S3 and SQS, the local Rekognition with a TPS quota of Q answering as
Rekognition does when it is exceeded, the embedded store) runs the same upload twice:

* baseline, today's settings: no REKOGNITION_TPS, so K pollers (K concurrent invocations, as
  Lambda scales an unbounded mapping) each with REKOGNITION_CONCURRENCY calls in flight,
  botocore's standard retries, and throttled messages retried in place until maxReceiveCount;
* rate-aware: REKOGNITION_TPS=Q, so at most the derived maximum concurrency of pollers, a token
  bucket per poller at Q / M, adaptive retries, and throttled messages sent back delayed
  (chalicelib/rate.py, chalicelib/redelivery.py).

Behind the endpoint's protocol, quota and errors, ``--labeler latency`` (the default) answers
every DetectLabels with bench.ingest's realistic answer after ``--latency`` seconds (0.5 s, the
latency chalicelib/rate.py sizes for), as bench.ingest's client does; ``--labeler models`` runs
the ONNX models instead. The models cost about 110 ms of CPU per DetectLabels (bench.labeler:
MTCNN for Person, the classifier, moto's GetObject), so on 2 cores they cap the flood near
10 images/s whatever Q is: with them the run measures the machine, not the rate control,
unless Q is below that (e.g. ``--labeler models --quota 5``).

All images are uploaded before the pollers start, so the whole flood is waiting, as after a
bulk upload or a backfill. It waits in a stand-in for SQS's deep queue
(``StackOptions.staged_notifications``, localdev/feeder.py): the bucket notifies a staging
queue, a feeder empties it into its backlog and keeps two batches per poller visible in the
function's queue. moto's SendMessage, ReceiveMessage and DeleteMessage walk the whole queue on
every call (with 3,000 messages in the function's queue both runs drained at about 5 images/s,
0.21 x Q, measured 2026-12-02), where SQS's cost does not depend on the depth and Lambda's
pollers always find a batch in a deep queue. The function's queue is the local stack's with
a visibility timeout of ``--visibility`` seconds and deploy's maxReceiveCount (5) in its
redrive policy, so the baseline's dead-letter count means what it would in AWS.
DETECT_FACES is off in both runs: DetectLabels is the quota measured. Figures per run: images
indexed (each at most once), dead-lettered messages, throttled calls, DetectLabels calls per
image, and the sustained rate of labelled images (between 10% and 90% of the run's indexed
images, which leaves out the start and the tail) as a fraction of Q.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.chaos.harness import sample_images
from bench.ingest import DETECT_LABELS_RESPONSE
from bench.report import Deadline, Report
from chalicelib.logs import LOGGER_NAME
from chalicelib.rate import CALL_SECONDS
from localdev.aws.deploy_plan import DEFAULT_MAX_RECEIVE_COUNT
from localdev.rekognition.errors import UnknownOperationException
from localdev.stack import LocalStack, StackOptions

DEFAULT_IMAGES, DEFAULT_POLLERS, DEFAULT_QUOTA = 3000, 20, 25.0
DEFAULT_VISIBILITY_SECONDS = 10
UPLOAD_THREADS = 8
STAGING_LAG = 200  # notifications the upload may be ahead of the feeder
# The steady part of a run: between these shares of its indexed images.
STEADY_FROM, STEADY_TO = 0.1, 0.9
GOAL_SUSTAINED_SHARE, GOAL_CALLS_PER_IMAGE = 0.9, 1.1
PROGRESS_SECONDS = 30  # a line on stderr this often while a run drains


class FixedLatencyLabels:
    """DetectLabels after ``seconds`` (sleeping: no CPU, as a network call), always the same
    realistic answer; anything else is not served."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def call(self, operation: str, request: dict) -> dict:
        if operation != "DetectLabels":
            raise UnknownOperationException(f"{operation} is not served by this stand-in")
        time.sleep(self.seconds)
        return DETECT_LABELS_RESPONSE


class OutcomeTimeline(logging.Handler):
    """The function's per-image log lines: outcomes per key and when each image was indexed."""

    def __init__(self):
        super().__init__()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.indexed_at: list[float] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        outcome, key = getattr(record, "outcome", None), getattr(record, "key", None)
        if not outcome or not key:
            return
        with self._lock:
            self.outcomes[(key, outcome)] += 1
            if outcome == "indexed":
                self.indexed_at.append(record.created)

    def count(self, outcome: str) -> int:
        return sum(n for (_, seen), n in self.outcomes.items() if seen == outcome)

    def indexed_twice(self) -> int:
        return sum(1 for (_, seen), n in self.outcomes.items() if seen == "indexed" and n > 1)

    def sustained_per_second(self) -> float:
        times = sorted(self.indexed_at)
        if len(times) < 10:
            return float("nan")
        first, last = int(len(times) * STEADY_FROM), int(len(times) * STEADY_TO) - 1
        seconds = times[last] - times[first]
        return (last - first) / seconds if seconds > 0 else float("nan")


@dataclass
class Run:
    name: str
    function_settings: dict[str, str]
    figures: dict = field(default_factory=dict)


def progress(line: str) -> None:
    # stderr: stdout is redirected while a run lasts (the function's EMF lines go there).
    print(f"   {line}", file=sys.stderr, flush=True)


def route_function_logs(timeline: OutcomeTimeline) -> None:
    """The function's logger writes to the timeline only (get_logger adds no stdout handler to
    a logger that has one), so 3,000 JSON lines do not drown the table."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(timeline)
    logger.propagate = False


def upload(stack: LocalStack, count: int) -> list[str]:
    """Puts the images, never more than STAGING_LAG notifications ahead of the feeder: moto's
    SendMessage and ReceiveMessage walk the whole staging queue, so a deep one slows both the
    puts and the feeder, which then falls further behind (3,000 puts took 210 s that way)."""
    samples = sample_images()
    keys = [f"flood/{n:05d}-{samples[n % len(samples)][0]}" for n in range(count)]

    def put(number: int) -> None:
        while number - stack.feeder.taken > STAGING_LAG:
            time.sleep(0.01)
        body = samples[number % len(samples)][1]
        stack.s3.put_object(Bucket=stack.options.bucket, Key=keys[number], Body=body)

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        list(pool.map(put, range(count)))
    return keys


def flood(run: Run, args, data_dir: Path) -> dict:
    timeline = OutcomeTimeline()
    route_function_logs(timeline)
    options = StackOptions(
        api_port=0,
        data_dir=data_dir,
        visibility_timeout_seconds=args.visibility,
        max_receive_count=DEFAULT_MAX_RECEIVE_COUNT,
        pollers=args.pollers,
        rekognition_tps=args.quota,
        rekognition_service=FixedLatencyLabels(args.latency) if args.labeler == "latency" else None,
        hold_pollers=True,
        staged_notifications=True,
        function_settings={"DETECT_FACES": "false", **run.function_settings},
    )
    with LocalStack(options) as stack:
        quota = stack.rekognition.quota
        upload_started = time.monotonic()
        upload(stack, args.images)
        uploaded = time.monotonic() - upload_started
        progress(f"uploaded {args.images} images in {uploaded:.0f} s")
        started = time.monotonic()
        stack.start_pollers()
        deadline = Deadline(args.timeout)
        next_line = started + PROGRESS_SECONDS
        # Done when nothing is left in the queue: visible, in flight or delayed.
        while not deadline.passed and (depths := stack.queue_depths())["queue"] > 0:
            if time.monotonic() >= next_line:
                next_line += PROGRESS_SECONDS
                progress(
                    f"{time.monotonic() - started:.0f} s: {timeline.count('indexed')} indexed, "
                    f"{quota.throttled['DetectLabels']} throttled calls, {depths['queue']} "
                    f"queued, {depths['dlq']} dead-lettered"
                )
            time.sleep(1)
        wall = time.monotonic() - started
        depths = stack.queue_depths()
        calls = quota.admitted["DetectLabels"] + quota.throttled["DetectLabels"]
        sustained = timeline.sustained_per_second()
        return {
            "run": run.name,
            "pollers": stack.pollers,
            "images": args.images,
            "indexed": timeline.count("indexed"),
            "indexed twice": timeline.indexed_twice(),
            "left in queue": depths["queue"],
            "DLQ": depths["dlq"],
            "throttled calls": quota.throttled["DetectLabels"],
            "calls/image": calls / args.images,
            "sustained img/s": sustained,
            "of Q": sustained / args.quota,
            "upload s": uploaded,
            "drain s": wall,
            "timed out": deadline.passed,
        }


def run(args) -> Report:
    report = Report("flood")
    report.parameters = {
        "images": args.images,
        "pollers": args.pollers,
        "quota_tps": args.quota,
        "visibility_timeout_s": args.visibility,
        "max_receive_count": DEFAULT_MAX_RECEIVE_COUNT,
        "timeout_s": args.timeout,
        "labeler": args.labeler,
        "latency_s": args.latency if args.labeler == "latency" else None,
    }
    report.describe()
    runs = [
        Run("baseline: today's settings", {}),
        Run(f"REKOGNITION_TPS={args.quota:g}", {"REKOGNITION_TPS": f"{args.quota:g}"}),
    ]
    rows = []
    for number, chosen in enumerate(runs):
        print(f"-- {chosen.name}", flush=True)
        # The function's metric lines (EMF on stdout, chalicelib/metrics.py) are for
        # CloudWatch; here they would bury the table.
        with (
            tempfile.TemporaryDirectory(prefix="flood-") as folder,
            open(os.devnull, "w") as devnull,
            contextlib.redirect_stdout(devnull),
        ):
            rows.append(flood(chosen, args, Path(folder) / f"data-{number}"))
    report.add_rows("runs", rows)
    baseline, rated = rows
    report.goal(
        "dead-lettered messages",
        "0",
        f"{rated['DLQ']} (baseline {baseline['DLQ']})",
        rated["DLQ"] == 0,
        why="messages reached the DLQ: throttled ones should have gone back delayed",
    )
    report.goal(
        "sustained labelled images per second",
        f">= {GOAL_SUSTAINED_SHARE} x Q ({GOAL_SUSTAINED_SHARE * args.quota:g}/s)",
        f"{rated['of Q']:.2f} x Q (baseline {baseline['of Q']:.2f})",
        rated["of Q"] >= GOAL_SUSTAINED_SHARE,
        why="the quota is left unused: see the pollers, the bucket rate, the CPU (and whether "
        "the feeder keeps the queue topped up: localdev/feeder.py)",
    )
    report.goal(
        "DetectLabels calls per image",
        f"<= {GOAL_CALLS_PER_IMAGE}",
        f"{rated['calls/image']:.3f} (baseline {baseline['calls/image']:.2f})",
        rated["calls/image"] <= GOAL_CALLS_PER_IMAGE,
        why="throttled attempts cost calls: the buckets together exceed the quota",
    )
    report.goal(
        "every image indexed once",
        f"{args.images} indexed, none twice",
        f"{rated['indexed']} indexed, {rated['indexed twice']} twice",
        rated["indexed"] == args.images and rated["indexed twice"] == 0,
        why="an image was lost or indexed twice",
    )
    report.note(
        "Q is the local endpoint's quota per operation (token bucket, one second of burst, "
        "localdev/rekognition/quota.py); calls/image counts every DetectLabels attempt the "
        "endpoint answered, throttled ones included."
    )
    report.note(
        f"Queue: visibility timeout {args.visibility} s, "
        f"maxReceiveCount {DEFAULT_MAX_RECEIVE_COUNT}; "
        "a message the baseline fails returns after the timeout and is dead-lettered on its "
        f"{DEFAULT_MAX_RECEIVE_COUNT}th failed receive."
    )
    report.note(
        "The flood waits in the feeder's backlog, which keeps 2 x pollers x BATCH_SIZE messages "
        "visible in the function's queue (localdev/feeder.py): a stand-in for SQS, whose cost, "
        "unlike moto's, does not grow with the queue's depth."
    )
    report.note(
        "Pollers are threads of one process standing in for Lambda's execution environments "
        "(each with its own copy of app.py); they share this machine's cores with moto and "
        "the labeler, which Lambda's environments do not."
    )
    report.note(
        "sustained img/s: images indexed per second between 10% and 90% of the run's indexed "
        "images; drain s: from the pollers' start until the queue is empty (or the timeout)."
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__)
    parser.add_argument("--images", type=int, default=DEFAULT_IMAGES, help="N images")
    parser.add_argument("--pollers", type=int, default=DEFAULT_POLLERS, help="K pollers")
    parser.add_argument("--quota", type=float, default=DEFAULT_QUOTA, help="Q calls/s")
    parser.add_argument(
        "--visibility", type=int, default=DEFAULT_VISIBILITY_SECONDS, help="seconds"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run, at most")
    parser.add_argument("--labeler", choices=("latency", "models"), default="latency")
    parser.add_argument(
        "--latency", type=float, default=CALL_SECONDS, help="seconds per call (latency labeler)"
    )
    args = parser.parse_args(argv)
    # moto's and the local servers' request lines would drown the output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("localdev.rekognition.server").setLevel(logging.WARNING)
    run(args).write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
