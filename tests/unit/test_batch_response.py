"""The SQS handler's answer is the ingestor's: a partial-failure response, or a raise when the
stage has partial batch responses switched off (PARTIAL_BATCH_RESPONSE=false)."""

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.ingest import BatchIngestor, BatchNotFullyProcessed
from tests.samples import s3_event_body, sqs_record
from tests.unit.test_ingest import FakeLabeler, FakeStore

BATCH = [
    sqs_record("m-good", s3_event_body("ObjectCreated:Put", "dog.jpg")),
    sqs_record("m-bad", "{not json"),
    sqs_record("m-worse", "neither"),
]


def ingestor(partial_batch_response):
    return BatchIngestor(
        labeler=FakeLabeler(),
        store=FakeStore(),
        executor=ThreadPoolExecutor(2),
        region="us-east-1",
        logger=logging.getLogger("test-batch-response"),
        partial_batch_response=partial_batch_response,
    )


def test_partial_responses_list_exactly_the_failed_messages_in_batch_order():
    assert ingestor(True).handle(BATCH) == {
        "batchItemFailures": [{"itemIdentifier": "m-bad"}, {"itemIdentifier": "m-worse"}]
    }


@pytest.mark.parametrize("partial", [True, False])
def test_a_batch_without_failures_is_an_empty_list_either_way(partial):
    assert ingestor(partial).handle(BATCH[:1]) == {"batchItemFailures": []}


def test_without_partial_responses_any_failure_raises_naming_the_messages():
    with pytest.raises(BatchNotFullyProcessed, match=r"2 messages failed: \['m-bad', 'm-worse'\]"):
        ingestor(False).handle(BATCH)


def test_partial_responses_are_the_default():
    default = BatchIngestor(
        FakeLabeler(), FakeStore(), ThreadPoolExecutor(1), "us-east-1", logging.getLogger("t")
    )
    assert default.handle(BATCH[1:2]) == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
