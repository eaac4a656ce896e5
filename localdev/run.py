"""`make run` / `make run-once`: the whole pipeline on this machine, with the sample images.

    python -m localdev.run [--port 8000]   # start, upload the samples, serve until Ctrl-C
    python -m localdev.run --once          # the same flow, print a summary and exit 0

The function's settings come from the environment (`MIN_CONFIDENCE=80 make run`); the ones
that differ from the defaults are printed at start. Set SEARCH_ENDPOINT (for example the URL
`make opensearch` prints) to index into OpenSearch instead of the embedded SQLite store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from chalicelib.settings import ConfigurationError
from chalicelib.timestamps import canonical_time
from localdev import cli
from localdev.stack import (
    LOCAL_CREDENTIALS,
    PROJECT_ROOT,
    DeadLettered,
    LocalStack,
    PortInUse,
    StackOptions,
)
from localdev.upload_plan import CONTENT_TYPES

SAMPLES = PROJECT_ROOT / "samples"
LABEL_TIMEOUT_SECONDS = 120


def sample_images() -> list[Path]:
    return sorted(path for path in SAMPLES.iterdir() if path.suffix.lower() in CONTENT_TYPES)


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
        labels = labels or "(no label at or above MIN_CONFIDENCE)"
        faces = document.get("face_count")
        print(f"  {key:<22} {labels}" + (f"  [{faces} face(s)]" if faces else ""))


def print_settings(stack: LocalStack) -> None:
    rows = stack.setting_differences()
    chosen = [(name, value, source) for name, value, source in rows if source != "local stack"]
    print("Settings that differ from the defaults (environment variables, see README):")
    width = max((len(f"{name}={value}") for name, value, _ in chosen), default=0)
    for name, value, source in chosen:
        print(f"  {f'{name}={value}':<{width}}  {source}")
    fixed = ", ".join(f"{name}={value}" for name, value, source in rows if source == "local stack")
    print(f"  fixed by the local stack: {fixed}")


def own_images_help(stack: LocalStack) -> str:
    """Everything an S3 client needs to add images to this stack, and lines to paste."""
    bucket, endpoint, region = stack.options.bucket, stack.s3_url, stack.region
    credentials = " ".join(f"{name}={value}" for name, value in LOCAL_CREDENTIALS.items())
    environment = f"{credentials} AWS_DEFAULT_REGION={region}"
    lines = [
        "Your own images (this stack's S3 and SQS; any S3 client works):",
        f"  bucket       {bucket}",
        f"  queue URL    {stack.queue_url}",
        f"  S3 endpoint  {endpoint}",
        f"  credentials  {credentials}",
        f"  region       {region}",
        "  upload a folder from another terminal (keys keep its sub-folders):",
        f"    {environment} aws --endpoint-url {endpoint} "
        f"s3 cp --recursive photos/ s3://{bucket}/photos/",
        f"    {environment} AWS_ENDPOINT_URL={endpoint} "
        f".venv/bin/python -m localdev.cli upload photos/ --bucket {bucket} --prefix photos",
    ]
    if not shutil.which("aws"):
        lines.append("  (no `aws` command here: `pip install awscli`, or use the second line)")
    lines.append("  each image's outcome is printed here as it happens.")
    return "\n".join(lines)


def run(once: bool, port: int, access_log: bool = False) -> int:
    options = StackOptions(
        api_port=port,
        search_endpoint=os.environ.get("SEARCH_ENDPOINT"),
        console=sys.stdout,
        access_log=access_log,
    )
    started = time.monotonic()
    with LocalStack(options) as stack:
        store = (
            "OpenSearch at " + options.search_endpoint
            if options.search_endpoint
            else (f"SQLite at {Path(os.environ['SQLITE_PATH']).relative_to(PROJECT_ROOT)}")
        )
        print(f"Local stack up: S3/SQS {stack.s3_url}, Rekognition {stack.rekognition.url}")
        print(f"Search store: {store}")
        print_settings(stack)
        print("\nIndexing the samples:")
        uploaded_at = canonical_time(datetime.now(UTC))
        files = [str(path) for path in sample_images()]
        keys = cli.upload(files, options.bucket, s3=stack.s3, show_progress=False)
        indexed = stack.wait_until_indexed(
            keys, since=uploaded_at, timeout=LABEL_TIMEOUT_SECONDS, stop_on_dead_letters=True
        )
        wait_until_searchable(stack, len(indexed))
        print(f"\n{len(indexed)} images indexed in {time.monotonic() - started:.1f} s:")
        print_labels(indexed)
        example = cli.search(stack.api_url, ["animal"])
        print("\nExample: GET /search?label=animal")
        print(cli.format_table(example))
        print(f"\nAPI:     {stack.api_url}/search?label=cat")
        print(f"Gallery: {stack.urls.gallery}")
        print()
        print(own_images_help(stack))
        if once:
            return 0
        print("\nServing until Ctrl-C.", flush=True)
        stopped = threading.Event()
        # Ctrl-C is the way to stop. Both signals get a handler of their own: a process started
        # in the background of a non-interactive shell (CI) inherits SIGINT ignored, and then
        # Python raises no KeyboardInterrupt.
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        stopped.wait()
        print("\nStopping…")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="print a summary and exit")
    parser.add_argument("--port", type=int, default=8000, help="API port (0: any free port)")
    parser.add_argument("--access-log", action="store_true", help="print one line per API request")
    args = parser.parse_args(argv)
    try:
        return run(args.once, args.port, args.access_log)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (PortInUse, DeadLettered, TimeoutError, cli.CliError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
