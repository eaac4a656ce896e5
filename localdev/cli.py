"""Command line tools that work against the local stack and against real AWS alike.

    python -m localdev.cli upload PATH... --bucket B [--prefix P]
    python -m localdev.cli backfill --bucket B --queue-url URL [--prefix P] [--rate N]
        [--stage S] [--start-after KEY] [--dry-run] [--no-count]
    python -m localdev.cli search LABEL... --api URL [--min-confidence N] [--match any]
        [--auth iam|api_key|none] [--api-key KEY] [--region R]
    python -m localdev.cli migrate --endpoint URL [--alias A] [--delete-old]

Credentials, region and endpoints come from the usual AWS environment (AWS_PROFILE,
AWS_REGION or AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, ...), so the same command uploads to moto
or to a real bucket. `search` signs with SigV4 for a deployed stage's execute-api URL
(--auth iam, the default there), sends the stage's key (--auth api_key --api-key KEY), or
neither (--auth none, local URLs).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.settings import Settings
from localdev.aws import chalice_config
from localdev.backfill import (
    BackfillError,
    BackfillRequest,
    census,
    list_objects,
    queue_retention,
    retention_warning,
)
from localdev.backfill import backfill as run_backfill
from localdev.cli_errors import CliError, aws_error_line, http_error_line, unreachable_line
from localdev.progress import progress
from localdev.proxy.signing import (
    AUTH_MODES,
    NoCredentials,
    NoSigner,
    default_auth,
    infer_region,
    make_signer,
)
from localdev.upload_plan import CONTENT_TYPES, UploadPlan, normalized_prefix, plan_upload

LOCAL_EXAMPLE = """\
example against the local stack (`make run` prints these values):
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1
  export AWS_ENDPOINT_URL=<the S3/SQS endpoint make run prints>
  .venv/bin/python -m localdev.cli upload photos/ --bucket image-label-search-local --prefix mine
  .venv/bin/python -m localdev.cli search cat --api http://127.0.0.1:8000
"""


def session() -> boto3.session.Session:
    """boto3 reads only AWS_DEFAULT_REGION; AWS_REGION (what Lambda sets) works here too."""
    return boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)


# -- upload ----------------------------------------------------------------------------------------


def upload(
    paths: list[str], bucket: str, prefix: str = "", s3=None, out=None, show_progress=True
) -> list[str]:
    """Upload the images among ``paths``; returns the object keys written.

    Keys keep each file's path relative to the folder given (``prefix`` joined with ``/``).
    Every file left out is listed on ``out`` (stderr) with its reason. Raises CliError before
    anything is uploaded when a path is missing, two files would get the same key, or nothing
    is left to upload.
    """
    plan = plan_upload(paths, prefix)
    report_skipped(plan, out or sys.stderr)
    plan.check()
    s3 = s3 or session().client("s3")
    bar = progress(
        plan.uploads, len(plan.uploads), "upload", None if show_progress else io.StringIO()
    )
    keys = []
    # closing(): on an error the bar ends its line before the caller prints the message.
    with contextlib.closing(bar) as items:
        for item in items:
            # put_object rather than upload_file: files are at most 15 MB (Rekognition's limit),
            # and its errors are the service's own (NoSuchBucket, ...), not a wrapped message.
            with item.path.open("rb") as body:
                s3.put_object(
                    Bucket=bucket,
                    Key=item.key,
                    Body=body,
                    ContentType=CONTENT_TYPES[item.path.suffix.lower()],
                )
            keys.append(item.key)
    return keys


def report_skipped(plan: UploadPlan, out) -> None:
    for skipped in plan.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=out)


# -- backfill --------------------------------------------------------------------------------------


def backfill(bucket: str, queue_url: str, prefix: str = "", s3=None, sqs=None, **options) -> int:
    """Enqueue one synthetic event per existing image; returns how many were sent."""
    request = BackfillRequest(bucket, queue_url, prefix, **options)
    s3 = s3 or session().client("s3")
    sqs = sqs or session().client("sqs")
    return run_backfill(request, s3, sqs).sent


def backfill_command(args) -> None:
    s3, sqs = session().client("s3"), session().client("sqs")
    rate = args.rate or stage_rate(args.stage, args.project_dir)
    retention = queue_retention(sqs, args.queue_url) if args.queue_url else None
    if args.dry_run:
        listed = list_objects(s3, args.bucket, args.prefix, args.start_after)
        counted = census(listed, args.bucket)
        print(
            f"dry run: {counted.objects:,} objects, {counted.eligible:,} eligible images "
            f"({counted.eligible_bytes:,} bytes) under s3://{args.bucket}/{args.prefix}; "
            "nothing sent"
        )
        warning = rate and retention and retention_warning(counted.eligible, rate, retention)
        if warning:
            print(warning, file=sys.stderr)
        return
    if not args.queue_url:
        raise CliError("--queue-url is required (only --dry-run runs without one)")
    request = BackfillRequest(
        args.bucket,
        args.queue_url,
        args.prefix,
        start_after=args.start_after,
        rate=rate,
        count_first=not args.no_count,
        retention=retention,
    )
    try:
        result = run_backfill(request, s3, sqs)
    except BackfillError as error:
        resume = error.checkpoint or args.start_after
        hint = f"; resume with --start-after {shlex.quote(resume)}" if resume else ""
        cause = error.__cause__
        if isinstance(cause, ClientError | BotoCoreError):
            raise CliError(f"{aws_error_line(cause, args)}{hint}") from None
        raise CliError(f"backfill stopped: {error}{hint}") from None
    print(
        f"enqueued {result.sent:,} images from s3://{args.bucket}/{args.prefix} "
        f"({result.skipped:,} objects skipped: not images Rekognition takes; "
        f"{result.retried_entries:,} entries retried)"
    )
    if result.last_key:
        print(f"last key sent: {result.last_key}")


def stage_rate(stage: str | None, project_dir: str) -> float | None:
    """The stage's REKOGNITION_TPS (.chalice/config.json): the pace the function labels at, so
    the default pace of a backfill for that stage."""
    if not stage:
        return None
    try:
        environment = chalice_config.stage_view(
            chalice_config.load(Path(project_dir)), stage
        ).environment
        return Settings.from_environ(environment).rekognition_tps
    except (OSError, ValueError) as error:
        raise CliError(f"--stage {stage}: {error}") from None


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
        raise CliError(http_error_line(api_url, error.code, error.read())) from None
    except (urllib.error.URLError, OSError) as error:
        raise CliError(unreachable_line(api_url, error)) from None


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.cli",
        description=__doc__,
        epilog=LOCAL_EXAMPLE,
        # Keep the usage lines and the example as written: the default formatter rewraps them.
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=LOCAL_EXAMPLE,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    up = command("upload", "upload image files or folders to a bucket (JPEG and PNG)")
    up.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="image files or folders; a folder's files keep their path relative to it in the key",
    )
    up.add_argument("--bucket", required=True, help="the bucket (locally: the one make run prints)")
    up.add_argument(
        "--prefix", default="", help="key prefix, joined with '/': --prefix 2026 gives 2026/<path>"
    )
    fill = command("backfill", "enqueue events for images already in a bucket")
    fill.add_argument("--bucket", required=True, help="the bucket whose images to index")
    fill.add_argument("--queue-url", help="the queue the function consumes (not for --dry-run)")
    fill.add_argument("--prefix", default="", help="only keys that start with this (literal)")
    fill.add_argument(
        "--rate",
        type=positive_rate,
        help="at most this many messages per second (default: the --stage's REKOGNITION_TPS, "
        "else no cap)",
    )
    fill.add_argument(
        "--stage", help="the stage whose REKOGNITION_TPS sets the default --rate (config.json)"
    )
    fill.add_argument(
        "--project-dir", default=".", help="where .chalice/config.json is (default: here)"
    )
    fill.add_argument(
        "--start-after", metavar="KEY", help="resume after this key (the last key a run printed)"
    )
    fill.add_argument(
        "--dry-run",
        action="store_true",
        help="count objects, eligible images and bytes; send nothing",
    )
    fill.add_argument(
        "--no-count", action="store_true", help="skip the counting pass (no total, no ETA)"
    )
    find = command("search", "search by label and print a table")
    find.add_argument(
        "labels", nargs="*", metavar="LABEL", help="labels: all must match, or any with --match any"
    )
    find.add_argument(
        "--api",
        required=True,
        help="the API's base URL: locally http://127.0.0.1:8000 (no /api), deployed "
        "https://ID.execute-api.REGION.amazonaws.com/api",
    )
    find.add_argument("--q", help="free text, typo-tolerant (e.g. cofee)")
    find.add_argument("--min-confidence", type=float, help="0-100, for the matched label")
    find.add_argument("--match", choices=["all", "any"], help="every label (default) or any")
    find.add_argument("--size", type=int, help="results per page, 1-100 (default 20)")
    find.add_argument(
        "--auth", choices=AUTH_MODES, help="default: iam for execute-api URLs, else none"
    )
    find.add_argument("--api-key", help="the stage's API key (--auth api_key)")
    find.add_argument(
        "--region",
        help="default: the region in the --api host, else AWS_REGION or AWS_DEFAULT_REGION",
    )
    move = command("migrate", "move an index alias to the current mapping version without downtime")
    move.add_argument(
        "--endpoint", required=True, help="the search node, e.g. http://127.0.0.1:9200"
    )
    move.add_argument("--alias", help="the index alias (default: $INDEX_ALIAS or imagerepository)")
    move.add_argument(
        "--delete-old", action="store_true", help="then delete the older versions' indices"
    )
    return parser


def migrate_command(args) -> None:
    """localdev/migration.py against a node given by URL (a deployed stage: python -m
    localdev.aws migrate --stage S)."""
    # Imported here: the search client costs 0.7 s to import, which upload and search skip.
    from elasticsearch.exceptions import ElasticsearchException

    from chalicelib.search_client import create_search_client
    from localdev.migration import MigrationError, migrate

    overrides = {
        "SEARCH_ENDPOINT": args.endpoint,
        **({"INDEX_ALIAS": args.alias} if args.alias else {}),
    }
    settings = Settings.from_environ({**os.environ, **overrides})
    client = create_search_client(settings)
    try:
        lines = migrate(client, settings.index_alias, args.delete_old)
    except MigrationError as error:
        raise CliError(str(error)) from None
    except ElasticsearchException as error:  # unreachable, or a request the node refused
        raise CliError(f"{args.endpoint}: {type(error).__name__}: {error}"[:500]) from None
    print("\n".join(lines))


def positive_rate(text: str) -> float:
    rate = float(text)
    if not rate > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of messages per second")
    return rate


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_command(args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"error: {aws_error_line(error, args)}", file=sys.stderr)
        return 1


def run_command(args) -> int:
    if args.command == "upload":
        keys = upload(args.paths, args.bucket, args.prefix)
        where = f"s3://{args.bucket}/{normalized_prefix(args.prefix)}"
        print(f"uploaded {len(keys)} image{'' if len(keys) == 1 else 's'} to {where}")
    elif args.command == "backfill":
        backfill_command(args)
    elif args.command == "migrate":
        migrate_command(args)
    else:
        try:
            signer = make_signer(
                args.auth or default_auth(args.api),
                region=args.region
                or infer_region(args.api)
                or os.environ.get("AWS_REGION")
                or os.environ.get("AWS_DEFAULT_REGION"),
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
