"""Watches a CloudFormation operation and says what happens while it happens.

A first deploy spends 15-30 minutes on the search domain. Instead of a silent waiter, the
watcher prints each new stack event (resource, status, reason) with the elapsed time, and once
a minute names what is still in progress and how long that kind of resource usually takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

# What is slow, and how slow AWS says it usually is.
SLOW_RESOURCES = {
    "AWS::OpenSearchService::Domain": ("OpenSearch domain", "typically 15-30 min"),
    "AWS::Elasticsearch::Domain": ("Elasticsearch domain", "typically 15-30 min"),
    "AWS::IAM::Role": ("IAM role", "typically under a minute"),
    "AWS::SQS::Queue": ("SQS queue", "typically about a minute"),
}
SLOW_NOTE_SECONDS = 60
MAX_WAIT_SECONDS = 3600  # a domain that takes longer than an hour has a problem worth reporting


class WatchTimeout(RuntimeError):
    pass


def minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


@dataclass
class StackWatcher:
    """Polls ``describe_stack_events`` and ``describe_stacks`` until the stack settles."""

    cfn: Any
    say: Callable[[str], None]
    poll_seconds: float = 15
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    max_seconds: float = MAX_WAIT_SECONDS
    _seen: set[str] = field(default_factory=set)

    def mark_seen(self, stack_id: str) -> None:
        """Remembers the stack's existing events, so only the next operation's are printed."""
        for event in self._events(stack_id):
            self._seen.add(event["EventId"])

    def wait(self, stack_id: str) -> dict[str, Any] | None:
        """Returns the settled stack (None once deleted), printing progress meanwhile."""
        started = self.clock()
        last_note = started
        in_progress: dict[str, tuple[str, float]] = {}  # logical id -> (type, since)
        while True:
            for event in reversed(self._events(stack_id)):
                if event["EventId"] in self._seen:
                    continue
                self._seen.add(event["EventId"])
                self._print(event, self.clock() - started, in_progress)
            stack = self._describe(stack_id)
            status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
            if not status.endswith("_IN_PROGRESS"):
                return None if status == "DELETE_COMPLETE" else stack
            now = self.clock()
            if now - started > self.max_seconds:
                raise WatchTimeout(f"still {status} after {minutes(now - started)}")
            if now - last_note >= SLOW_NOTE_SECONDS:
                last_note = now
                for line in self._slow_notes(in_progress, now):
                    self.say(line)
            self.sleep(self.poll_seconds)

    def _print(self, event: dict, elapsed: float, in_progress: dict) -> None:
        logical = event["LogicalResourceId"]
        kind = event.get("ResourceType", "")
        status = event["ResourceStatus"]
        reason = event.get("ResourceStatusReason") or ""
        if status.endswith("_IN_PROGRESS") and kind != "AWS::CloudFormation::Stack":
            in_progress.setdefault(logical, (kind, self.clock()))
        else:
            in_progress.pop(logical, None)
        line = f"[{minutes(elapsed):>6}] {logical} ({kind}): {status}"
        if reason and reason != "Resource creation Initiated":
            line += f": {reason}"
        self.say(line)

    def _slow_notes(self, in_progress: dict, now: float) -> list[str]:
        notes = []
        for logical, (kind, since) in sorted(in_progress.items()):
            label, typical = SLOW_RESOURCES.get(kind, (logical, "no typical time known"))
            notes.append(
                f"{label} ({logical}): in progress, {typical}, {minutes(now - since)} so far"
            )
        return notes

    def _events(self, stack_id: str) -> list[dict]:
        """Newest first, as CloudFormation returns them; stops at the first known event."""
        events: list[dict] = []
        token = None
        while True:
            kwargs = {"StackName": stack_id, **({"NextToken": token} if token else {})}
            try:
                page = self.cfn.describe_stack_events(**kwargs)
            except ClientError as error:
                if "does not exist" in str(error):
                    return events
                raise
            for event in page.get("StackEvents", []):
                if event["EventId"] in self._seen:
                    return events
                events.append(event)
            token = page.get("NextToken")
            if not token:
                return events

    def _describe(self, stack_id: str) -> dict[str, Any] | None:
        try:
            return self.cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        except ClientError as error:
            if "does not exist" in str(error):
                return None
            raise
