"""The local stack's hooks (localdev/stack.py StackHooks), as the chaos harness uses them: a
front for Rekognition, a count of the calls it answers, a record of every invocation; and the
batches' metric lines go to the stack's file, not the console."""

import json
import os

from bench.chaos.harness import ChaosStack


class RecordedFront:
    """Stands where a proxy would, answering at the local Rekognition's own URL."""

    def __init__(self, target: str):
        self.target = target
        self.stopped = False

    @property
    def url(self) -> str:
        return self.target

    def start(self) -> "RecordedFront":
        return self

    def stop(self) -> None:
        self.stopped = True


def test_the_chaos_stack_instruments_the_pipeline_through_the_hooks(stack_options):
    fronts: list[RecordedFront] = []

    def front(target: str) -> RecordedFront:
        fronts.append(RecordedFront(target))
        return fronts[-1]

    with ChaosStack(stack_options, proxy_factory=front) as stack:
        [started] = fronts
        assert started.target == stack.rekognition.url and stack.proxy is started
        assert os.environ["AWS_ENDPOINT_URL_REKOGNITION"] == started.url  # what the function calls
        [key] = stack.upload_copies(1, "hooks")
        stack.wait_until_indexed([key], timeout=60)
        assert stack.rekognition_calls >= 1
        assert stack.invocations and all(not run["failed"] for run in stack.invocations)
        assert any(run["messages"] for run in stack.invocations)
        batches = [json.loads(line) for line in stack.metrics_path.read_text().splitlines()]
        assert batches and all("_aws" in batch for batch in batches)
        assert not started.stopped
    assert started.stopped  # stopped with the stack
