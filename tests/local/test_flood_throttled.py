"""In the local stack, a message that Rekognition keeps throttling never reaches the dead-letter
queue under a quota (REKOGNITION_TPS): it goes back to the queue as delayed copies and is
indexed once the quota allows. Without the setting, as before, it is dead-lettered."""

from __future__ import annotations

import pytest

from localdev.run import SAMPLES
from localdev.stack import LocalStack
from tests.local.conftest import wait_for

# An endpoint quota that admits nothing: 0.001 calls per second never fills one token.
NOTHING_GETS_THROUGH = 0.001
# No botocore retries, so each receive makes exactly one attempt and the test takes seconds.
ONE_ATTEMPT = {"AWS_MAX_ATTEMPTS": "1", "DETECT_FACES": "false"}


@pytest.fixture
def throttled_options(stack_options):
    stack_options.rekognition_tps = NOTHING_GETS_THROUGH
    return stack_options


def _throttled_calls(stack: LocalStack) -> int:
    return stack.rekognition.quota.throttled["DetectLabels"]


def test_a_persistently_throttled_message_is_sent_back_not_dead_lettered(throttled_options):
    throttled_options.function_settings = {**ONE_ATTEMPT, "REKOGNITION_TPS": "5"}
    with LocalStack(throttled_options) as stack:
        stack.s3.put_object(
            Bucket=stack.options.bucket,
            Key="cat.jpg",
            Body=(SAMPLES / "chelsea-cat.jpg").read_bytes(),
        )
        receives = stack.options.max_receive_count
        # More throttled attempts than the queue allows receives: each one was a new copy.
        wait_for(
            lambda: _throttled_calls(stack) > receives + 1,
            timeout=60,
            what="the image to be throttled more often than maxReceiveCount",
        )
        # The copy waits in the queue (delayed or in flight), never in the DLQ.
        wait_for(lambda: stack.queue_depths() == {"queue": 1, "dlq": 0}, what="one copy queued")
        stack.rekognition.quota.set_tps(100)  # the quota is raised: the next copy gets through
        [document] = stack.wait_until_indexed(["cat.jpg"], timeout=60).values()
        assert "Cat" in {label["name"] for label in document["labels"]}
        wait_for(lambda: stack.queue_depths() == {"queue": 0, "dlq": 0}, what="an empty queue")
        assert stack.rekognition.quota.admitted["DetectLabels"] == 1  # labelled exactly once


def test_without_a_quota_setting_it_is_dead_lettered_as_before(throttled_options):
    throttled_options.function_settings = dict(ONE_ATTEMPT)
    with LocalStack(throttled_options) as stack:
        stack.s3.put_object(
            Bucket=stack.options.bucket,
            Key="cat.jpg",
            Body=(SAMPLES / "chelsea-cat.jpg").read_bytes(),
        )
        wait_for(lambda: stack.queue_depths()["dlq"] == 1, timeout=60, what="the DLQ")
        assert _throttled_calls(stack) == stack.options.max_receive_count
