"""Command line tools that work against the local stack and against real AWS alike.

    python -m localdev.cli upload PATH... --bucket B [--prefix P]
    python -m localdev.cli backfill --bucket B --queue-url URL [--prefix P]
    python -m localdev.cli search LABEL... --api URL [--min-confidence N] [--match any]
        [--auth iam|api_key|none] [--api-key KEY] [--region R]

Credentials, region and endpoints come from the usual AWS environment (AWS_PROFILE,
AWS_ENDPOINT_URL_S3, ...), so the same command uploads to moto or to a real bucket. `search`
signs with SigV4 for a deployed stage's execute-api URL (--auth iam, the default there), sends
the stage's key (--auth api_key --api-key KEY), or neither (--auth none, local URLs).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from urllib.parse import quote_plus

import boto3

from chalicelib.eligibility import SUPPORTED_EXTENSIONS
from localdev.progress import progress
from localdev.proxy.signing import (
    AUTH_MODES,
    NoCredentials,
    NoSigner,
    default_auth,
    infer_region,
    make_signer,
)

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
SQS_BATCH_LIMIT = 10


# -- upload ----------------------------------------------------------------------------------------


def image_files(paths: list[str]) -> list[Path]:
    """The JPEG and PNG files among ``paths`` (folders are searched recursively)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        found += [
            candidate
            for candidate in candidates
            if candidate.is_file() and candidate.suffix.lower() in SUPPORTED_EXTENSIONS
        ]
    return found


def upload(paths: list[str], bucket: str, prefix: str = "", s3=None) -> list[str]:
    """Upload image files; returns the object keys written."""
    s3 = s3 or boto3.client("s3")
    files = image_files(paths)
    keys = []
    for path in progress(files, len(files), "upload"):
        key = f"{prefix}{path.name}"
        s3.upload_file(
            str(path),
            bucket,
            key,
            ExtraArgs={"ContentType": CONTENT_TYPES[path.suffix.lower()]},
        )
        keys.append(key)
    return keys


# -- backfill --------------------------------------------------------------------------------------


def existing_images(s3, bucket: str, prefix: str) -> Iterator[dict]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].lower().endswith(SUPPORTED_EXTENSIONS):
                yield obj


def synthetic_event(bucket: str, obj: dict, region: str) -> str:
    """An S3 event notification for an object that already exists.

    It carries no sequencer, so it orders by event time (the object's LastModified): it indexes
    images the index lacks but never overrides the state that real events produced.
    """
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": obj["LastModified"].astimezone(UTC).isoformat(),
        "eventName": "ObjectCreated:Backfill",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(obj["Key"]), "size": obj["Size"], "eTag": obj["ETag"]},
        },
    }
    return json.dumps({"Records": [record]})


def backfill(bucket: str, queue_url: str, prefix: str = "", s3=None, sqs=None) -> int:
    """Enqueue one synthetic event per existing image; returns how many were sent."""
    s3 = s3 or boto3.client("s3")
    sqs = sqs or boto3.client("sqs")
    region = s3.meta.region_name
    objects = list(existing_images(s3, bucket, prefix))
    batches = [objects[n : n + SQS_BATCH_LIMIT] for n in range(0, len(objects), SQS_BATCH_LIMIT)]
    for batch in progress(batches, len(batches), "backfill (batches of 10)"):
        entries = [
            {"Id": str(n), "MessageBody": synthetic_event(bucket, obj, region)}
            for n, obj in enumerate(batch)
        ]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"SQS refused some messages: {response['Failed']}")
    return len(objects)


# -- search ----------------------------------------------------------------------------------------


def search(api_url: str, labels: list[str], *, signer=None, **params) -> dict:
    """GET /search; ``signer`` (see localdev.proxy.make_signer) authorizes the request."""
    query = [("label", label) for label in labels]
    query += [(name, str(value)) for name, value in params.items() if value is not None]
    # %20 rather than +: the exact form SigV4 signs (API Gateway decodes both the same way).
    encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="-_.~")
    url = f"{api_url.rstrip('/')}/search?{encoded}"
    headers = (signer or NoSigner()).sign("GET", url, {}, b"")
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise SystemExit(f"search failed ({error.code}): {error.read().decode()}") from None


def format_table(result: dict) -> str:
    rows = [("key", "matched", "labels")]
    for item in result["items"]:
        labels = ", ".join(f"{label['name']} {label['confidence']:.0f}" for label in item["labels"])
        rows.append((item["key"], ", ".join(item["matched"]), labels[:70]))
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}" for row in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    total = result["total"]
    lines.append(
        f"{total} image{'' if total == 1 else 's'}" + (" (more)" if result["next"] else "")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upload", help="upload image files or folders to a bucket")
    up.add_argument("paths", nargs="+")
    up.add_argument("--bucket", required=True)
    up.add_argument("--prefix", default="")
    fill = commands.add_parser("backfill", help="enqueue events for images already in a bucket")
    fill.add_argument("--bucket", required=True)
    fill.add_argument("--queue-url", required=True)
    fill.add_argument("--prefix", default="")
    find = commands.add_parser("search", help="search by label and print a table")
    find.add_argument("labels", nargs="*")
    find.add_argument("--api", required=True, help="the API's base URL")
    find.add_argument("--q")
    find.add_argument("--min-confidence", type=float)
    find.add_argument("--match", choices=["all", "any"])
    find.add_argument("--size", type=int)
    find.add_argument(
        "--auth", choices=AUTH_MODES, help="default: iam for execute-api URLs, else none"
    )
    find.add_argument("--api-key", help="the stage's API key (--auth api_key)")
    find.add_argument("--region", help="default: the region in the --api host, else AWS_REGION")
    args = parser.parse_args(argv)

    if args.command == "upload":
        keys = upload(args.paths, args.bucket, args.prefix)
        print(f"uploaded {len(keys)} images to s3://{args.bucket}/{args.prefix}")
    elif args.command == "backfill":
        count = backfill(args.bucket, args.queue_url, args.prefix)
        print(f"enqueued {count} images from s3://{args.bucket}/{args.prefix}")
    else:
        try:
            signer = make_signer(
                args.auth or default_auth(args.api),
                region=args.region or infer_region(args.api),
                api_key=args.api_key,
            )
        except (NoCredentials, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        result = search(
            args.api,
            args.labels,
            signer=signer,
            q=args.q,
            min_confidence=args.min_confidence,
            match=args.match,
            size=args.size,
        )
        print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
