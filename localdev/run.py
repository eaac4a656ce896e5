"""`make run` / `make run-once`: the whole pipeline on this machine, with the sample images.

    python -m localdev.run           # start, upload the samples, serve until Ctrl-C
    python -m localdev.run --once    # the same flow, print a summary and exit 0

Set SEARCH_ENDPOINT (for example the URL `make opensearch` prints) to index into OpenSearch
instead of the embedded SQLite store.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from chalicelib.timestamps import canonical_time
from localdev import cli
from localdev.stack import PROJECT_ROOT, LocalStack, StackOptions

SAMPLES = PROJECT_ROOT / "samples"
LABEL_TIMEOUT_SECONDS = 120


def wait_until_searchable(stack: LocalStack, count: int) -> None:
    """Search sees new documents after the store's refresh (about a second in OpenSearch)."""
    deadline = time.monotonic() + LABEL_TIMEOUT_SECONDS
    while cli.search(stack.api_url, [])["total"] < count and time.monotonic() < deadline:
        time.sleep(0.2)


def print_labels(indexed: dict[str, dict]) -> None:
    for key, document in sorted(indexed.items()):
        labels = ", ".join(
            f"{label['name']} {label['confidence']:.0f}%" for label in document["labels"][:6]
        )
        faces = document.get("face_count")
        print(f"  {key:<22} {labels}" + (f"  [{faces} face(s)]" if faces else ""))


def run(once: bool, port: int) -> int:
    options = StackOptions(api_port=port, search_endpoint=os.environ.get("SEARCH_ENDPOINT"))
    # The summary below shows every outcome; the function's own log lines would bury it.
    options.function_settings["LOG_LEVEL"] = "WARNING"
    started = time.monotonic()
    with LocalStack(options) as stack:
        store = (
            "OpenSearch at " + options.search_endpoint
            if options.search_endpoint
            else (f"SQLite at {Path(os.environ['SQLITE_PATH']).relative_to(PROJECT_ROOT)}")
        )
        print(f"Local stack up: S3/SQS {stack.s3_url}, Rekognition {stack.rekognition.url}")
        print(f"Search store: {store}")
        uploaded_at = canonical_time(datetime.now(UTC))
        keys = cli.upload([str(SAMPLES)], options.bucket, s3=stack.s3)
        try:
            indexed = stack.wait_until_indexed(
                keys, since=uploaded_at, timeout=LABEL_TIMEOUT_SECONDS
            )
        except TimeoutError as error:
            raise SystemExit(str(error)) from None
        wait_until_searchable(stack, len(indexed))
        print(f"\n{len(indexed)} images indexed in {time.monotonic() - started:.1f} s:")
        print_labels(indexed)
        example = cli.search(stack.api_url, ["animal"])
        print("\nExample: GET /search?label=animal")
        print(cli.format_table(example))
        print(f"\nAPI:     {stack.api_url}/search?label=cat")
        print(f"Gallery: {stack.urls.gallery}")
        if once:
            return 0
        print("\nServing until Ctrl-C.")
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop
            stopped.wait()
        print("\nStopping…")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="print a summary and exit")
    parser.add_argument("--port", type=int, default=8000, help="API port (0: any free port)")
    args = parser.parse_args(argv)
    return run(args.once, args.port)


if __name__ == "__main__":
    sys.exit(main())
