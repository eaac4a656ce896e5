"""Backfill throughput: ``localdev.backfill`` against a bare SendMessageBatch loop, on moto.

    .venv/bin/python -m bench.backfill [--objects 100000] [--load-threads 8]

Both runs go to the same moto server (server mode, in a process of its own, over HTTP, as the
command talks to SQS in AWS):

* baseline: the messages the backfill would send, built beforehand, sent ten per
  ``send_message_batch`` call in a plain loop: the fastest this SQS endpoint takes them;
* backfill: the whole command as a user runs it (counting pass for the ETA, paginated listing,
  eligibility, message building, per-entry failure handling, pacing off, progress bar).

moto's SQS walks every queued message on each send (moto/sqs/models.py, ``Queue.messages`` and
the approximate counts, O(depth) per message), which a real queue does not: 2,000 messages sent
into an undrained queue took 38 s here, against 7 s when it is kept short. A drain thread
therefore purges the queue every ``--purge-seconds`` during both runs, standing in for the
function that consumes it in AWS (AWS allows one PurgeQueue a minute; the stand-in switches
moto's enforcement of that off, MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR=false).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

from bench.report import PROJECT_ROOT, Report, Stopwatch, ratio
from chalicelib.sqs_batches import SEND_BATCH_LIMIT
from localdev.backfill import (
    BackfillRequest,
    backfill,
    created_event,
    list_objects,
    notification_body,
)

BUCKET = "bench-backfill-photos"
QUEUE = "bench-backfill-uploads"
GOAL = 0.8  # backfill messages/s as a fraction of the bare loop's (issue 15)


class Drain:
    """Purges the queue every ``seconds`` until stopped (the function's consumers, in AWS)."""

    def __init__(self, sqs, queue_url: str, seconds: float):
        self._sqs, self._url, self._seconds = sqs, queue_url, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            self._sqs.purge_queue(QueueUrl=self._url)

    def __enter__(self) -> Drain:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def moto_process() -> Iterator[str]:
    """tests/deploy/moto_server.py in a process of its own (the client's GIL is not the
    server's, as with a real endpoint); yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The drain's purges: AWS allows one PurgeQueue a minute, moto enforces it by default.
    env = {**os.environ, "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.deploy.moto_server", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"the moto server on {url} did not start")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def clients(url: str, threads: int):
    config = Config(max_pool_connections=max(10, threads))
    options = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "bench",
        "aws_secret_access_key": "bench",
        "config": config,
    }
    return boto3.client("s3", **options), boto3.client("sqs", **options)


def load(s3, objects: int, threads: int) -> None:
    s3.create_bucket(Bucket=BUCKET)

    def put(number: int) -> None:
        # Ten folders, as a real archive has: the listing crosses prefixes in key order.
        s3.put_object(Bucket=BUCKET, Key=f"archive/{number % 10}/{number:08d}.jpg", Body=b"\xff")

    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(put, range(objects)):
            pass


def bare_loop(sqs, queue_url: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), SEND_BATCH_LIMIT):
        entries = [
            {"Id": str(n), "MessageBody": body}
            for n, body in enumerate(bodies[start : start + SEND_BATCH_LIMIT])
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def run(args) -> Report:
    report = Report("backfill", parameters=vars(args).copy())
    report.describe()
    with moto_process() as url:
        s3, sqs = clients(url, args.load_threads)
        with Stopwatch() as loading:
            load(s3, args.objects, args.load_threads)
        queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        with Stopwatch() as listing:
            bodies = [
                notification_body(created_event(BUCKET, obj, "us-east-1"))
                for obj in list_objects(s3, BUCKET)
            ]
        with Drain(sqs, queue_url, args.purge_seconds):
            with Stopwatch() as baseline:
                bare_loop(sqs, queue_url, bodies)
            request = BackfillRequest(BUCKET, queue_url, count_first=not args.no_count)
            with Stopwatch() as measured:
                result = backfill(request, s3, sqs, stream=io.StringIO())
    baseline_rate = len(bodies) / baseline.seconds
    backfill_rate = result.sent / measured.seconds
    rows = [
        {"run": "bare send_message_batch loop", "messages": len(bodies),
         "seconds": baseline.seconds, "msg/s": baseline_rate},
        {"run": f"localdev.backfill ({'list' if args.no_count else 'count + list'} + send)",
         "messages": result.sent,
         "seconds": measured.seconds, "msg/s": backfill_rate},
    ]  # fmt: skip
    report.add_rows("throughput (moto server, same run)", rows)
    report.add_rows(
        "setup",
        [
            {"step": f"load {args.objects:,} objects into moto S3", "seconds": loading.seconds},
            {"step": "list them once (what backfill does twice)", "seconds": listing.seconds},
        ],
    )
    fraction = ratio(backfill_rate, baseline_rate)
    report.goal(
        "backfill msg/s vs bare loop",
        f">= {GOAL}x",
        f"{fraction:.2f}x",
        fraction >= GOAL,
        why="the listings (one for the sending, one counting for the ETA) share moto's one "
        "server process with the sends, and moto's ListObjectsV2 walks the whole bucket per "
        "page: see the listing row under setup, and compare --no-count",
    )
    report.note(
        f"every one of the {args.objects:,} objects was sent: {result.sent:,} messages, "
        f"{result.retried_entries} entries retried, checkpoint {result.last_key}"
    )
    report.note(
        "moto's SQS cost grows with queue depth; a drain purges the queue every "
        f"{args.purge_seconds} s during both runs (see the module docstring)"
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__)
    parser.add_argument("--objects", type=int, default=100_000, help="objects in the bucket")
    parser.add_argument("--load-threads", type=int, default=8, help="parallel put_object calls")
    parser.add_argument("--purge-seconds", type=float, default=0.2, help="drain interval")
    parser.add_argument(
        "--no-count", action="store_true", help="backfill without its counting pass (no ETA)"
    )
    run(parser.parse_args()).write()


if __name__ == "__main__":
    main()
