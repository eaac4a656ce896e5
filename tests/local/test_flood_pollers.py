"""Several pollers at once, as Lambda runs several invocations: at most the maximum concurrency
that REKOGNITION_TPS derives, each with its own copy of the function, every image indexed once."""

from __future__ import annotations

from localdev.run import SAMPLES
from localdev.stack import LocalStack
from tests.local.conftest import wait_for


def test_pollers_honour_the_maximum_concurrency_and_index_every_image_once(stack_options):
    stack_options.pollers = 20
    # Longer than a batch takes on two busy cores (the fixture's 1 s is for DLQ tests): a
    # message seen again only because its batch outlasted the visibility would be labelled twice.
    stack_options.visibility_timeout_seconds = 30
    stack_options.function_settings = {"REKOGNITION_TPS": "25", "DETECT_FACES": "false"}
    stack_options.rekognition_tps = 25
    with LocalStack(stack_options) as stack:
        assert stack.pollers == 3  # 25 TPS, 10 calls in flight each: 3 (chalicelib/rate.py)
        body = (SAMPLES / "chelsea-cat.jpg").read_bytes()
        keys = [f"cats/{n:02d}.jpg" for n in range(30)]
        for key in keys:
            stack.s3.put_object(Bucket=stack.options.bucket, Key=key, Body=body)
        documents = stack.wait_until_indexed(keys, timeout=120, stop_on_dead_letters=True)
        assert all("Cat" in {label["name"] for label in d["labels"]} for d in documents.values())
        quota = stack.rekognition.quota
        assert quota.admitted["DetectLabels"] == len(keys)  # each labelled once


def test_without_a_quota_every_requested_poller_runs(stack_options):
    stack_options.pollers = 4
    with LocalStack(stack_options) as stack:
        assert stack.pollers == 4
        stack.s3.put_object(
            Bucket=stack.options.bucket,
            Key="cat.jpg",
            Body=(SAMPLES / "chelsea-cat.jpg").read_bytes(),
        )
        stack.wait_until_indexed(["cat.jpg"], timeout=60)


def test_staged_notifications_reach_the_function_through_the_feeder(stack_options):
    """bench.flood's set-up: the bucket notifies the staging queue, the feeder keeps the
    function's queue topped up, and every image is still indexed once."""
    stack_options.pollers = 3
    stack_options.staged_notifications = True
    stack_options.hold_pollers = True
    stack_options.function_settings = {"DETECT_FACES": "false"}
    with LocalStack(stack_options) as stack:
        notified = stack.s3.get_bucket_notification_configuration(Bucket=stack.options.bucket)
        [target] = [q["QueueArn"] for q in notified["QueueConfigurations"]]
        assert target.endswith(":image-label-search-local-uploads-staging")
        body = (SAMPLES / "chelsea-cat.jpg").read_bytes()
        keys = [f"cats/{n:02d}.jpg" for n in range(25)]
        for key in keys:
            stack.s3.put_object(Bucket=stack.options.bucket, Key=key, Body=body)
        assert stack.queue_depths()["queue"] >= len(keys)  # staged messages count as queued
        stack.start_pollers()
        stack.wait_until_indexed(keys, timeout=120, stop_on_dead_letters=True)
        wait_for(lambda: stack.queue_depths() == {"queue": 0, "dlq": 0}, what="empty queues")
