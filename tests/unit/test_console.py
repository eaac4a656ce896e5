"""`make run`'s console: one readable line per image outcome, from the function's own log."""

import io
import logging

from chalicelib.logs import LOGGER_NAME, get_logger
from localdev.console import OutcomeConsole, outcomes_on


def record(message, level=logging.INFO, **extra):
    return logging.makeLogRecord({"msg": message, "levelno": level, "levelname": "INFO", **extra})


def test_each_outcome_is_one_line_with_labels_or_reason():
    console = OutcomeConsole(io.StringIO())
    indexed = record(
        "image indexed",
        outcome="indexed",
        key="photos/a/cat.jpg",
        labels=["Animal", "Mammal", "Cat", "Pet", "Tabby Cat", "Tiger Cat"],
    )
    assert (
        console.line(indexed) == "  indexed  photos/a/cat.jpg  Animal, Mammal, Cat, Pet, Tabby Cat"
    )
    skipped = record(
        "image skipped",
        outcome="skipped",
        key="notes.txt",
        reason="not a JPEG or PNG file (by extension)",
    )
    assert console.line(skipped) == "  skipped  notes.txt  not a JPEG or PNG file (by extension)"
    failed = record("image failed", outcome="failed", key="x.jpg", reason="Rekognition error: boom")
    assert console.line(failed) == "  failed   x.jpg  Rekognition error: boom"
    bare = record("image indexed", outcome="indexed", key="dark.jpg", labels=[])
    assert console.line(bare) == "  indexed  dark.jpg  no label at or above MIN_CONFIDENCE"


def test_the_buckets_test_event_is_not_shown_but_a_malformed_message_is():
    console = OutcomeConsole(io.StringIO())
    test_event = record("message skipped", outcome="skipped", message_id="m1", reason="none")
    assert console.line(test_event) is None
    poison = record("message failed", outcome="failed", message_id="m2", reason="malformed")
    assert console.line(poison) == "  failed   message m2: malformed"


def test_the_function_logger_writes_to_the_console_while_routed_and_is_restored():
    logger = logging.getLogger(LOGGER_NAME)
    before = list(logger.handlers)
    stream = io.StringIO()
    with outcomes_on(stream):
        log = get_logger("INFO")  # what the function does on its first invocation
        log.info("image indexed", extra={"outcome": "indexed", "key": "k.jpg", "labels": ["Cat"]})
        log.warning("other line", extra={"detail": 1})
    assert logger.handlers == before
    lines = stream.getvalue().splitlines()
    assert lines[0] == "  indexed  k.jpg  Cat"
    assert lines[1].startswith('{"level": "WARNING", "message": "other line"')
