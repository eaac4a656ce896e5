"""``compact``: delete tombstones older than the stage's TOMBSTONE_RETENTION_DAYS.

A tombstone exists so that an older create still in flight cannot resurrect a deleted image.
Queue retention does not bound how late that create can come: a message redriven by hand is
sent afresh (a new enqueue time) and a throttled message's copy (chalicelib/redelivery.py)
starts a new retention period. So the cut-off is one setting, TOMBSTONE_RETENTION_DAYS
(default 30), which the indexer uses too: a create older than it, for an image with no stored
state, is indexed only if S3 still serves that very object (chalicelib/late_events.py), so a
create that outlives its tombstone cannot resurrect the image either. Compact also refuses a
setting shorter than the queue's plus the dead-letter queue's MessageRetentionPeriod (4 + 14
days by default), as preflight does, so that the S3 check stays the exception, not the rule.

Run it by hand (``make compact STAGE=dev``) or from cron on a machine with the stage's
credentials; see the README ("Operations").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import yaml

from chalicelib.store.base import ImageStore
from chalicelib.timestamps import canonical_time
from localdev.aws.context import DeployError
from localdev.aws.stack import TEMPLATE_PATH
from localdev.backfill import queue_retention


class RetentionTooShort(DeployError):
    """TOMBSTONE_RETENTION_DAYS is shorter than a message can wait in the two queues."""


@dataclass(frozen=True)
class CompactResult:
    removed: int
    written_before: str
    horizon: timedelta


def template_retention(template_body: str | None = None) -> timedelta:
    """The queue's (QueueRetentionSeconds's default: deploy never overrides it) plus the
    dead-letter queue's MessageRetentionPeriod, as infra/template.yaml sets them."""

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !Sub, ...) do not matter for these two numbers.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load(template_body or TEMPLATE_PATH.read_text(), Loader=Loader)
    queue = template["Parameters"]["QueueRetentionSeconds"]["Default"]
    dead_letters = template["Resources"]["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    return timedelta(seconds=int(queue) + int(dead_letters))


def minimum_days(queues: timedelta) -> int:
    """The smallest TOMBSTONE_RETENTION_DAYS that covers ``queues``, in whole days."""
    return -(-queues // timedelta(days=1))


def compact(
    sqs,
    store: ImageStore,
    queue_url: str,
    dlq_url: str,
    retention_days: int,
    now: datetime | None = None,
) -> CompactResult:
    horizon = timedelta(days=retention_days)
    queues = queue_retention(sqs, queue_url) + queue_retention(sqs, dlq_url)
    if horizon < queues:
        raise RetentionTooShort(
            f"TOMBSTONE_RETENTION_DAYS={retention_days} is shorter than the queue's plus the "
            f"dead-letter queue's retention ({queues}): raise it to at least "
            f"{minimum_days(queues)} in the stage's environment_variables"
        )
    cutoff = canonical_time((now or datetime.now(UTC)) - horizon)
    return CompactResult(store.remove_tombstones(cutoff), cutoff, horizon)
