"""SendMessageBatch with retries of the entries SQS failed on its side, for every sender here:
the function's throttled redelivery (chalicelib/redelivery.py) and the command line's backfill,
relabel and redrive (localdev/backfill.py).

SQS answers a batch per entry: an entry in ``Failed`` with ``SenderFault`` false (throttling,
an internal error) may succeed when sent again, one with ``SenderFault`` true (too large, a bad
attribute) never will. Only the first kind is retried, with doubling backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

SEND_BATCH_LIMIT = 10  # SendMessageBatch (and ReceiveMessage) take at most 10 entries


@dataclass(frozen=True)
class Retries:
    attempts: int  # calls in all for one batch; 1 = no retry
    first_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 5.0


NO_RETRIES = Retries(attempts=1)


@dataclass
class BatchOutcome:
    """The entries still not queued (SQS's ``Failed`` items) and how many resends it took."""

    failed: list[dict] = field(default_factory=list)
    resent_entries: int = 0


def send_batch(
    sqs,
    queue_url: str,
    entries: Sequence[dict],
    retries: Retries = NO_RETRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchOutcome:
    """Send at most SEND_BATCH_LIMIT ``entries`` (each with a unique ``Id``); entries failed
    by SQS are sent again up to ``retries.attempts`` calls in all. Errors of the call itself
    (ClientError, BotoCoreError) propagate: the caller knows whether to retry the batch."""
    if len(entries) > SEND_BATCH_LIMIT:
        raise ValueError(f"{len(entries)} entries: SendMessageBatch takes {SEND_BATCH_LIMIT}")
    outcome = BatchOutcome()
    pending = {entry["Id"]: entry for entry in entries}
    backoff = retries.first_backoff_seconds
    for attempt in range(1, retries.attempts + 1):
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=list(pending.values()))
        failed = response.get("Failed", [])
        refused = any(failure.get("SenderFault") for failure in failed)
        if refused or not failed or attempt == retries.attempts:
            # Every entry still unsent, the refused ones first (they name the real problem).
            outcome.failed = sorted(failed, key=lambda failure: not failure.get("SenderFault"))
            return outcome
        pending = {failure["Id"]: pending[failure["Id"]] for failure in failed}
        outcome.resent_entries += len(pending)
        sleep(backoff)
        backoff = min(backoff * 2, retries.max_backoff_seconds)
    return outcome
