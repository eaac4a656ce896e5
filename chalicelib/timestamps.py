"""One timestamp format for every stored time, so that times compare correctly as strings.

Every time the function accepts (S3 and EventBridge event times, the API's ``since`` and
``until``) goes through ``canonical_time``, which is the one place that validates times:

* the format always has a four-digit year. ``strftime("%Y")`` writes year 999 as ``999``,
  which sorts after ``2026`` as a string and which OpenSearch's date parser rejects;
* only times inside ``EARLIEST``..``LATEST`` are accepted. Before the Unix epoch no S3 event
  exists (S3 launched in 2006), and the cursor carries times as epoch milliseconds, which this
  window keeps non-negative and well inside 64 bits. After 9999 no four-digit year exists;
* every failure is an ``InvalidTime`` (a ValueError): ``datetime`` raises ValueError for bad
  text but OverflowError when an offset pushes a time near year 1 or 9999 off the calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
WINDOW_TEXT = "from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"
LATEST_EPOCH_MILLIS = (LATEST - EARLIEST) // timedelta(milliseconds=1)

# The length of a canonical time up to its milliseconds ("2026-11-27T20:36:26.123"): the
# precision of the index's date fields.
MILLISECOND_TIME_LENGTH = len("2026-11-27T20:36:26.123")


class InvalidTime(ValueError):
    """Not an ISO-8601 time inside the accepted window."""


def canonical_time(value: str | datetime) -> str:
    """ISO-8601 UTC with microseconds (``2026-11-27T20:36:26.123000Z``).

    S3 writes ``2026-11-27T20:36:26.123Z`` and EventBridge ``2026-11-27T20:36:26Z``; compared
    as raw strings the second would sort after the first. A time without an offset is UTC.
    Raises InvalidTime for a value that is not an ISO-8601 time inside the window.
    """
    return _format(_moment(value))


def to_epoch_millis(canonical: str) -> int:
    """Milliseconds since the epoch of a canonical time (cut to the millisecond, as the index
    cuts its date fields): the sort value the search engine returns for a date."""
    moment = _moment(canonical)
    return (moment - EARLIEST) // timedelta(milliseconds=1)


def from_epoch_millis(millis: int) -> str:
    """The canonical time, cut to the millisecond, of ``millis`` inside the window."""
    if isinstance(millis, bool) or not isinstance(millis, int):
        raise InvalidTime(f"{millis!r} is not a whole number of milliseconds")
    try:
        moment = EARLIEST + timedelta(milliseconds=millis)
    except OverflowError:
        raise InvalidTime(f"{millis} milliseconds is outside the window {WINDOW_TEXT}") from None
    if not EARLIEST <= moment <= LATEST:
        raise InvalidTime(f"{millis} milliseconds is outside the window {WINDOW_TEXT}")
    return _format(moment)[:MILLISECOND_TIME_LENGTH]


def _moment(value: str | datetime) -> datetime:
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError, TypeError):
        raise InvalidTime(f"{value!r:.100} is not an ISO-8601 time") from None
    if not EARLIEST <= moment <= LATEST:
        raise InvalidTime(f"{value!r:.100} is outside the window {WINDOW_TEXT}")
    return moment


def _format(moment: datetime) -> str:
    # Not strftime: its %Y does not pad years below 1000 on every platform. The window keeps
    # years at four digits anyway; the explicit format says so.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )
