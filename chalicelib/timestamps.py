"""One timestamp format for every stored time, so that times compare correctly as strings."""

from __future__ import annotations

from datetime import UTC, datetime


def canonical_time(value: str | datetime) -> str:
    """ISO-8601 UTC with microseconds (``2026-11-27T20:36:26.123000Z``).

    S3 writes ``2026-11-27T20:36:26.123Z`` and EventBridge ``2026-11-27T20:36:26Z``; compared
    as raw strings the second would sort after the first. Raises ValueError for a value that
    is not an ISO-8601 time.
    """
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
