"""The fault-injection scenarios. Each takes the report and adds its rows and goals."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import requests

from bench import nodes
from bench.chaos.harness import (
    ChaosStack,
    ThrottleProxy,
    capture_function_logs,
    dlq_bodies,
    indexed_count,
    kill_node,
    restart_node_in_place,
    sample_images,
    wait_until,
)
from bench.report import PROJECT_ROOT, Report, Stopwatch
from localdev.stack import StackOptions

# The local classifier needs a lower bar than Rekognition (as in localdev.stack); DetectFaces
# off: every DetectLabels already runs the face detector, a second call would double the work.
FUNCTION_SETTINGS = {"DETECT_FACES": "false", "MIN_CONFIDENCE": "30", "LOG_LEVEL": "INFO"}


def _options(tmp: Path, url: str, alias: str, **overrides) -> StackOptions:
    settings = {**FUNCTION_SETTINGS, "INDEX_ALIAS": alias}
    return StackOptions(
        api_port=0,
        data_dir=tmp / "data",
        search_endpoint=url,
        function_settings=settings,
        bucket=f"chaos-{uuid.uuid4().hex[:8]}",
        queue_name=f"chaos-{uuid.uuid4().hex[:8]}",
        **overrides,
    )


# --------------------------------------------------------------------------- 1. node outage


def node_outage(report: Report, images: int, outage_seconds: float, heap: str) -> None:
    """Kill the OpenSearch node (SIGKILL) while images flow, restart it on the same data."""
    from localdev.search_node import start_node

    alias = f"chaos-outage-{uuid.uuid4().hex[:6]}"
    capture = capture_function_logs()
    node = start_node(heap=heap)
    timeline: dict[str, float] = {}
    try:
        es = nodes.client(node.url, timeout=10)
        with tempfile.TemporaryDirectory() as tmp:
            options = _options(
                Path(tmp), node.url, alias, visibility_timeout_seconds=5, max_receive_count=30
            )
            with ChaosStack(options) as stack:
                started = time.monotonic()
                keys = stack.upload_copies(images, "outage")
                timeline["uploaded"] = time.monotonic() - started
                # Let about a third flow through, then crash the node.
                wait_until(lambda: indexed_count(es, alias) >= images // 3, 900, 0.5)
                timeline["killed_at"] = time.monotonic() - started
                indexed_before = indexed_count(es, alias)
                kill_node(node)
                time.sleep(outage_seconds)
                timeline["restart_at"] = time.monotonic() - started
                restart_node_in_place(node, heap)
                timeline["up_again_at"] = time.monotonic() - started
                wait_until(
                    lambda: (
                        indexed_count(es, alias) >= images and stack.queue_depths()["queue"] == 0
                    ),
                    1200,
                    2.0,
                )
                timeline["done_at"] = time.monotonic() - started
                depths = stack.queue_depths()
                final = indexed_count(es, alias)
                outcomes = capture.outcomes_by_key()
                indexed_once = sum(1 for key in keys if outcomes[key]["indexed"] == 1)
                indexed_twice = sum(1 for key in keys if outcomes[key]["indexed"] > 1)
                failed_attempts = sum(outcomes[key]["failed"] for key in keys)
                versions = _versions(es, alias, len(keys))
                rekognition_calls = stack.rekognition_calls
                invocations = len(stack.invocations)
    finally:
        node.stop()
    rows = [
        {"measure": "images uploaded", "value": images},
        {"measure": "indexed before the kill", "value": indexed_before},
        {"measure": "documents in the index at the end", "value": final},
        {"measure": "images with exactly one 'indexed' outcome", "value": indexed_once},
        {"measure": "images indexed more than once", "value": indexed_twice},
        {"measure": "documents with _version > 1", "value": versions},
        {"measure": "'failed' outcomes during the outage (retried)", "value": failed_attempts},
        {"measure": "messages left in the queue", "value": depths["queue"]},
        {"measure": "messages in the DLQ", "value": depths["dlq"]},
        {"measure": "handler invocations", "value": invocations},
        {"measure": "Rekognition calls (baseline: one per image)", "value": rekognition_calls},
        {"measure": "Rekognition calls per image", "value": rekognition_calls / images},
        *({"measure": f"timeline: {name} (s)", "value": value} for name, value in timeline.items()),
    ]
    report.add_rows("1. OpenSearch killed (SIGKILL) and restarted on the same data", rows)
    report.goal(
        "outage: every image indexed exactly once",
        f"{images} once",
        f"{indexed_once} once, {indexed_twice} more than once, {final} docs",
        indexed_once == images and final == images and indexed_twice == 0,
        why="images were lost or written twice: compare the 'indexed' outcomes with the "
        "documents and their _version in the table",
    )
    report.goal(
        "outage: DLQ empty",
        "0",
        str(depths["dlq"]),
        depths["dlq"] == 0,
        why="messages ran out of receives before the node came back: a longer outage than "
        "maxReceiveCount x the visibility timeout",
    )


def _versions(es, alias: str, count: int) -> int:
    """How many documents were written more than once (_version > 1)."""
    response = es.search(
        index=alias, body={"query": {"match_all": {}}, "size": count, "version": True}
    )
    return sum(1 for hit in response["hits"]["hits"] if hit.get("_version", 1) > 1)


# --------------------------------------------------------------------------- 2. throttling


def throttling(report: Report, url: str, images: int, share: float) -> None:
    alias = f"chaos-throttle-{uuid.uuid4().hex[:6]}"
    capture = capture_function_logs()
    es = nodes.client(url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            options = _options(Path(tmp), url, alias, visibility_timeout_seconds=5)
            stack = ChaosStack(options, proxy_factory=lambda target: ThrottleProxy(target, share))
            with stack:
                with Stopwatch() as watch:
                    keys = stack.upload_copies(images, "throttle")
                    wait_until(
                        lambda: (
                            indexed_count(es, alias) >= images
                            and stack.queue_depths()["queue"] == 0
                        ),
                        900,
                        1.0,
                    )
                proxy = stack.proxy
                depths = stack.queue_depths()
                final = indexed_count(es, alias)
                outcomes = capture.outcomes_by_key()
                failed = sum(outcomes[key]["failed"] for key in keys)
                retries = sum(n for attempt, n in proxy.attempts.items() if attempt > 1)
                rows = [
                    {"measure": "images uploaded", "value": images},
                    {"measure": "documents in the index", "value": final},
                    {"measure": "requests at the proxy", "value": proxy.requests},
                    {"measure": "answered ThrottlingException", "value": proxy.throttled},
                    {"measure": "throttled share", "value": proxy.throttled / proxy.requests},
                    {"measure": "botocore retries (attempt > 1)", "value": retries},
                    *(
                        {"measure": f"requests with attempt={attempt}", "value": n}
                        for attempt, n in sorted(proxy.attempts.items())
                    ),
                    {"measure": "images failed after botocore's retries", "value": failed},
                    {"measure": "messages in the DLQ", "value": depths["dlq"]},
                    {"measure": "seconds until all indexed", "value": watch.seconds},
                ]
    finally:
        nodes.drop_alias(es, alias)
    report.add_rows(f"2. Rekognition throttled on {share:.0%} of requests", rows)
    report.goal(
        "throttling: every image indexed",
        str(images),
        f"{final} indexed, {retries} retries",
        final == images and depths["dlq"] == 0,
        why="some images failed after botocore's retries and went to the DLQ: see "
        "'images failed after botocore's retries'",
    )


# --------------------------------------------------------------------------- 3. poison messages

SQS_MAX_BYTES = 262_144


def _s3_body(bucket: str, key: str, size: int, **extra) -> str:
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-27T20:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote(key), "size": size, "sequencer": "0055AED6DCD90281E5"},
        },
    }
    return json.dumps({"Records": [record], **extra})


def _padded_to(limit: int, build) -> str:
    """The body build(padding) whose UTF-8 size is exactly ``limit`` bytes."""
    body = build("")
    return build("x" * (limit - len(body.encode())))


def poison_messages(report: Report, url: str) -> None:
    alias = f"chaos-poison-{uuid.uuid4().hex[:6]}"
    capture = capture_function_logs()
    es = nodes.client(url)
    source = f"chaos-source-{uuid.uuid4().hex[:6]}"  # no notifications: events are sent by hand
    samples = sample_images()
    poison_objects = {
        "poison/notes.txt": b"not an image\n",
        "poison/fake.jpg": b"this is text, not a JPEG" * 10,
        "poison/empty.jpg": b"",
    }
    poison = {
        "invalid JSON": "{not json",
        "unknown shape": json.dumps({"hello": "world"}),
        "256 KiB junk body": _padded_to(SQS_MAX_BYTES, lambda pad: json.dumps({"junk": pad})),
        "256 KiB S3 event (padded, valid)": _padded_to(
            SQS_MAX_BYTES,
            lambda pad: _s3_body(source, "good/padded.jpg", len(samples[0][1]), padding=pad),
        ),
        "missing object": _s3_body(source, "poison/missing.jpg", 1000),
        "non-image (.txt)": _s3_body(source, "poison/notes.txt", 13),
        "non-image with .jpg name": _s3_body(source, "poison/fake.jpg", 240),
        "zero-byte image": _s3_body(source, "poison/empty.jpg", 0),
    }
    rows: list[dict] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            options = _options(
                Path(tmp), url, alias, visibility_timeout_seconds=1, max_receive_count=2
            )
            with ChaosStack(options) as stack:
                stack.s3.create_bucket(Bucket=source)
                for key, data in poison_objects.items():
                    stack.s3.put_object(Bucket=source, Key=key, Body=data)
                stack.s3.put_object(Bucket=source, Key="good/padded.jpg", Body=samples[0][1])
                good_keys: list[str] = []
                sent: dict[str, str] = {}  # poison name -> message id
                for number, (name, body) in enumerate(poison.items()):
                    # One poison message and nine good ones per SendMessageBatch.
                    entries = [{"Id": "poison", "MessageBody": body}]
                    for n in range(9):
                        sample_name, data = samples[n % len(samples)]
                        key = f"good/{number}-{n}-{sample_name}"
                        stack.s3.put_object(Bucket=source, Key=key, Body=data)
                        good_keys.append(key)
                        entries.append(
                            {"Id": f"good{n}", "MessageBody": _s3_body(source, key, len(data))}
                        )
                    response = stack.sqs.send_message_batch(
                        QueueUrl=stack.queue_url, Entries=entries
                    )
                    ids = {item["Id"]: item["MessageId"] for item in response.get("Successful", [])}
                    failed_sends = response.get("Failed", [])
                    if failed_sends:
                        raise RuntimeError(f"SendMessageBatch refused: {failed_sends}")
                    sent[name] = ids["poison"]
                expected_dlq = 4
                wait_until(
                    lambda: (
                        indexed_count(es, alias) >= len(good_keys) + 1
                        and stack.queue_depths()["queue"] == 0
                        and stack.queue_depths()["dlq"] >= expected_dlq
                    ),
                    180,
                    1.0,
                )
                time.sleep(3)  # a last redelivery round
                in_dlq = {
                    hashlib.sha256(item["body"].encode()).hexdigest(): item
                    for item in dlq_bodies(stack)
                }
                indexed_keys = {
                    key for key, counts in capture.outcomes_by_key().items() if counts["indexed"]
                }
                for name, message_id in sent.items():
                    body = poison[name]
                    logged = capture.by_message(message_id)
                    outcomes = Counter(entry["outcome"] for entry in logged)
                    reasons = sorted({entry["reason"] for entry in logged if entry.get("reason")})
                    dlq_item = in_dlq.get(hashlib.sha256(body.encode()).hexdigest())
                    batches = [inv for inv in stack.invocations if message_id in inv["messages"]]
                    # Only poison messages may be named for retry in its batches.
                    others_ok = all(set(inv["failed"]) <= set(sent.values()) for inv in batches)
                    if dlq_item:
                        # The count includes the read that found it there.
                        ended = f"DLQ (after {dlq_item['receives'] - 1} receives)"
                    elif outcomes.get("indexed"):
                        ended = "indexed"
                    elif outcomes.get("skipped"):
                        ended = "logged skip"
                    else:
                        ended = "?"
                    rows.append(
                        {
                            "poison": name,
                            "bytes": len(body.encode()),
                            "ended": ended,
                            "logged": dict(outcomes),
                            "reason": (reasons[0] if reasons else "")[:70],
                            "batches": len(batches),
                            "rest_of_batch_ok": others_ok and bool(batches),
                        }
                    )
                good_indexed = sum(1 for key in good_keys if key in indexed_keys)
                depths = stack.queue_depths()
    finally:
        nodes.drop_alias(es, alias)
    report.add_rows("3. poison messages (each sent with nine good ones)", rows)
    report.add_rows(
        "3. the good messages",
        [
            {"measure": "good images sent", "value": len(good_keys)},
            {"measure": "good images indexed", "value": good_indexed},
            {"measure": "messages left in the queue", "value": depths["queue"]},
            {"measure": "messages in the DLQ", "value": depths["dlq"]},
        ],
    )
    report.goal(
        "poison: each ends as a logged skip, indexed, or in the DLQ",
        "all",
        ", ".join(
            f"{n} {end}" for end, n in Counter(r["ended"].split(" (")[0] for r in rows).items()
        ),
        all(row["ended"] != "?" for row in rows),
        why="a poison message ended nowhere the table can name ('?'): neither logged, indexed "
        "nor dead-lettered",
    )
    report.goal(
        "poison: the rest of each batch succeeds",
        f"{len(good_keys)} good indexed",
        f"{good_indexed} indexed; batches clean: {sum(r['rest_of_batch_ok'] for r in rows)}"
        f"/{len(rows)}",
        good_indexed == len(good_keys) and all(row["rest_of_batch_ok"] for row in rows),
        why="a poison message took good messages of its batch with it: see rest_of_batch_ok",
    )


# --------------------------------------------------------------------------- 4. API fuzzing

ROUTED_METHODS = {"GET", "POST", "OPTIONS"}
INJECTIONS = (
    "*",
    "?",
    ".*",
    "label:Dog OR 1=1",
    "' OR '1'='1",
    '"; DROP TABLE images; --',
    '{"match_all": {}}',
    "Dog* AND *:*",
    "[a-z]+",
    "\\",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "${script:javascript:1}",
    "Dog%00 (a NUL byte)".replace("%00 (a NUL byte)", "\u0000"),
    "(?i)dog",
)


def api_fuzzing(report: Report, url: str, examples: int, seed: int) -> None:
    alias = f"chaos-fuzz-{uuid.uuid4().hex[:6]}"
    capture_function_logs()
    es = nodes.client(url)
    workdir = Path(tempfile.mkdtemp(prefix="bench-fuzz-"))
    try:
        options = _options(workdir, url, alias)
        with ChaosStack(options) as stack:
            keys = stack.upload_copies(10, "fuzz")
            wait_until(lambda: indexed_count(es, alias) >= len(keys), 120, 0.5)
            har = workdir / "fuzz.har"
            command = [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                str(PROJECT_ROOT / "openapi.json"),
                "--url",
                stack.api_url,
                "--checks",
                "not_a_server_error",
                "--max-examples",
                str(examples),
                "--seed",
                str(seed),
                "--workers",
                "2",
                "--generation-database",
                "none",
                "--request-timeout",
                "30",
                "--report",
                "har",
                "--report-har-path",
                str(har),
                "--no-color",
            ]
            with Stopwatch() as watch:
                # cwd: schemathesis keeps its cache in ./.schemathesis, which must not land in
                # the clone.
                result = subprocess.run(
                    command, cwd=workdir, capture_output=True, text=True, timeout=1200
                )
            statuses = _har_statuses(har)
            injection_rows = [_injection(stack.api_url, value) for value in INJECTIONS]
    finally:
        nodes.drop_alias(es, alias)
        shutil.rmtree(workdir, ignore_errors=True)
    by_class = Counter(f"{status // 100}xx" for _, status in statuses)
    # http.server (under chalice's local server) answers 501 to methods it has no handler for
    # (TRACE): API Gateway answers those itself in AWS, the app never sees them.
    local_server_501 = sum(
        1 for method, status in statuses if status == 501 and method not in ROUTED_METHODS
    )
    server_errors = by_class.get("5xx", 0) - local_server_501
    methods = Counter(method for method, _ in statuses)
    report.add_rows(
        "4. schemathesis against openapi.json (the local stack's API over HTTP)",
        [
            {"measure": "cases (requests sent)", "value": len(statuses)},
            *({"measure": f"{name} responses", "value": n} for name, n in sorted(by_class.items())),
            {"measure": "  of which 501 from http.server (TRACE etc.)", "value": local_server_501},
            {"measure": "5xx from the app", "value": server_errors},
            {"measure": "methods", "value": dict(methods)},
            {"measure": "schemathesis exit code", "value": result.returncode},
            {"measure": "seconds", "value": watch.seconds},
        ],
    )
    report.data["schemathesis_output_tail"] = result.stdout[-4000:]
    report.add_rows("4. injection strings (label and q must match literally)", injection_rows)
    report.goal(
        "fuzzing: >= 1000 cases, zero 5xx",
        ">= 1000, 0",
        f"{len(statuses)} cases, {server_errors} 5xx from the app "
        f"(+{local_server_501} 501 from the local HTTP server for TRACE)",
        len(statuses) >= 1000 and server_errors == 0,
        why="the app answered 5xx to a generated request (the schemathesis output tail in the "
        "JSON has it), or fewer cases ran",
    )
    literal = all(row["literal"] for row in injection_rows)
    report.goal(
        "injection strings: 200 with 0 results, or 400",
        f"{len(injection_rows)} strings x 4 requests",
        "all literal" if literal else "see table",
        literal,
        why="an injection string matched as syntax rather than literally: see the table",
    )


def _har_statuses(path: Path) -> list[tuple[str, int]]:
    """(method, status) of every request schemathesis sent."""
    if not path.exists():
        return []
    entries = json.loads(path.read_text()).get("log", {}).get("entries", [])
    return [
        (entry["request"]["method"], entry["response"]["status"])
        for entry in entries
        if entry.get("response")
    ]


def _injection(api: str, value: str) -> dict:
    checks = {
        "search label": ("/search", {"label": value}, "total"),
        "search q": ("/search", {"q": value}, "total"),
        "labels label": ("/labels", {"label": value}, "labels"),
        "labels prefix": ("/labels", {"prefix": value}, "labels"),
    }
    row: dict = {"value": value}
    literal = True
    for name, (path, params, field) in checks.items():
        response = requests.get(api + path, params=params, timeout=30)
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        found = body.get(field)
        count = found if isinstance(found, int) else len(found or [])
        ok = response.status_code == 400 or (response.status_code == 200 and count == 0)
        literal &= ok
        row[name] = f"{response.status_code}" + (
            f" ({count})" if response.status_code == 200 else ""
        )
    row["literal"] = literal
    return row
