"""A running local stack (moto S3/SQS, local Rekognition, the Chalice app, the poller)."""

import time

import pytest

from localdev.stack import LocalStack, StackOptions


@pytest.fixture
def stack_options(tmp_path):
    return StackOptions(
        api_port=0,
        data_dir=tmp_path / "data",
        # Fast redelivery, so a failing message reaches the DLQ in seconds.
        visibility_timeout_seconds=1,
        max_receive_count=2,
    )


@pytest.fixture
def local_stack(stack_options):
    with LocalStack(stack_options) as stack:
        yield stack


def wait_for(condition, timeout=60.0, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
