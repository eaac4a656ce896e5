"""The day-2 commands of ``python -m localdev.aws``: redrive, relabel, compact, migrate.

Each reads the stage's queues, bucket and search endpoint from its stack
(localdev/aws/stage_targets.py) and does one thing; the modules named below hold the logic.
"""

from __future__ import annotations

import argparse
import shlex

from chalicelib.timestamps import canonical_time
from localdev.aws import compact, redrive, relabel
from localdev.aws.context import Context, DeployError
from localdev.aws.stage_targets import stage_store, stage_targets
from localdev.backfill import BackfillError
from localdev.cli import positive_rate


def add_parsers(commands, common) -> None:
    move = commands.add_parser("redrive", help="move the dead-letter queue back to the queue")
    common(move)
    move.add_argument(
        "--rate", type=move_rate, help="messages per second, 1-500 (default: SQS's pace)"
    )
    move.add_argument(
        "--method",
        choices=(redrive.MOVE_TASK, redrive.MANUAL),
        help="default: StartMessageMoveTask, by hand where the endpoint lacks it",
    )

    again = commands.add_parser("relabel", help="label the live images under a prefix again")
    common(again)
    again.add_argument(
        "--prefix", required=True, help="key prefix ('' for the whole bucket: one call per image)"
    )
    again.add_argument(
        "--since", help="only images last indexed before this time (re-running resumes)"
    )
    again.add_argument("--rate", type=positive_rate, help="at most this many messages per second")

    clean = commands.add_parser("compact", help="delete tombstones older than any late event")
    common(clean)

    move = commands.add_parser(
        "migrate", help="copy the index to the current mapping version and swap the alias"
    )
    common(move)
    move.add_argument(
        "--delete-old", action="store_true", help="then delete the older versions' indices"
    )


def move_rate(text: str) -> int:
    """StartMessageMoveTask takes MaxNumberOfMessagesPerSecond from 1 to 500."""
    rate = int(text)
    if not 1 <= rate <= redrive.MAX_MOVE_RATE:
        raise argparse.ArgumentTypeError(f"{text} is not from 1 to {redrive.MAX_MOVE_RATE}")
    return rate


def run_redrive(ctx: Context, args: argparse.Namespace) -> int:
    targets = stage_targets(ctx)
    result = redrive.redrive(ctx, targets, rate=args.rate, method=args.method)
    return redrive.report(ctx, result)


def run_relabel(ctx: Context, args: argparse.Namespace) -> int:
    targets = stage_targets(ctx)
    since = canonical_time(args.since) if args.since else None
    ctx.step(f"Relabel live images under s3://{targets.bucket}/{args.prefix}")
    try:
        result, plan = relabel.relabel(
            ctx.client("s3"),
            ctx.client("sqs"),
            stage_store(ctx, targets),
            bucket=targets.bucket,
            queue_url=targets.queue_url,
            prefix=args.prefix,
            since=since,
            region=ctx.region,
            rate=args.rate,
            stream=ctx.out,
        )
    except BackfillError as error:
        resume = f"; resume with --since {shlex.quote(since)}" if since else ""
        raise DeployError(f"relabel stopped: {error}{resume}") from error
    ctx.detail(f"enqueued {result.sent} relabel event(s)")
    for reason, count in sorted(plan.skipped.items()):
        ctx.detail(f"skipped {count}: {reason}")
    return 0


def run_compact(ctx: Context, args: argparse.Namespace) -> int:
    targets = stage_targets(ctx)
    settings = ctx.stage_view().settings()
    result = compact.compact(
        ctx.client("sqs"),
        stage_store(ctx, targets),
        targets.queue_url,
        targets.dlq_url,
        settings.tombstone_retention_days,
    )
    ctx.step(
        f"Removed {result.removed} tombstone(s) written before {result.written_before} "
        f"(TOMBSTONE_RETENTION_DAYS: {result.horizon.days})"
    )
    return 0


def run_migrate(ctx: Context, args: argparse.Namespace) -> int:
    # Imported here: the search client costs 0.7 s to import (see stage_targets.stage_store).
    from elasticsearch.exceptions import ElasticsearchException

    from localdev.migration import MigrationError, migrate

    targets = stage_targets(ctx)
    store = stage_store(ctx, targets)
    ctx.step(f"Migrate {store.alias} on {targets.search_endpoint}")
    try:
        lines = migrate(store.client, store.alias, args.delete_old, stream=ctx.out)
    except (MigrationError, ElasticsearchException) as error:
        raise DeployError(f"migrate stopped: {error}") from error
    for line in lines:
        ctx.detail(line)
    return 0


COMMANDS = {
    "redrive": run_redrive,
    "relabel": run_relabel,
    "compact": run_compact,
    "migrate": run_migrate,
}
