"""The partial-batch flag on a mapping that Lambda is still creating (stubbed Lambda).

Lambda answers ``ResourceInUseException`` to UpdateEventSourceMapping while the mapping is in
state Creating; moto creates mappings Enabled at once, so this sequence is stubbed.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from localdev.aws.event_source import PARTIAL_BATCH, enable_partial_batch_responses

UUID = "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE"
RESOURCES = [{"resource_type": "sqs_event", "event_uuid": UUID}]


def _mapping(state: str, response_types=None) -> dict:
    mapping = {"UUID": UUID, "State": state, "BatchSize": 10}
    if response_types is not None:
        mapping["FunctionResponseTypes"] = response_types
    return mapping


@pytest.fixture
def lambda_client():
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_resource_in_use_is_retried_until_the_mapping_is_enabled_with_the_flag(lambda_client):
    client, stubber = lambda_client
    get = {"UUID": UUID}
    update = {"UUID": UUID, "FunctionResponseTypes": PARTIAL_BATCH}
    stubber.add_response("get_event_source_mapping", _mapping("Creating"), get)
    stubber.add_response("get_event_source_mapping", _mapping("Enabled", []), get)
    stubber.add_client_error(
        "update_event_source_mapping",
        service_error_code="ResourceInUseException",
        service_message="Cannot update the event source mapping because it is in use.",
        http_status_code=400,
        expected_params=update,
    )
    stubber.add_response("get_event_source_mapping", _mapping("Enabled", []), get)
    stubber.add_response("update_event_source_mapping", _mapping("Updating", PARTIAL_BATCH), update)
    stubber.add_response("get_event_source_mapping", _mapping("Updating", PARTIAL_BATCH), get)
    stubber.add_response("get_event_source_mapping", _mapping("Enabled", PARTIAL_BATCH), get)
    slept: list[float] = []
    (mapping,) = enable_partial_batch_responses(client, RESOURCES, sleep=slept.append)
    assert mapping["State"] == "Enabled"
    assert mapping["FunctionResponseTypes"] == PARTIAL_BATCH
    assert slept == [1.0, 2.0, 4.0, 8.0]


def test_a_mapping_that_never_settles_fails_with_the_command_to_fix_it(lambda_client):
    client, stubber = lambda_client
    for _ in range(6):
        stubber.add_response("get_event_source_mapping", _mapping("Creating"), {"UUID": UUID})
    slept: list[float] = []
    with pytest.raises(RuntimeError, match="update-event-source-mapping --uuid"):
        enable_partial_batch_responses(client, RESOURCES, sleep=slept.append, attempts=6)
    assert slept == [1.0, 2.0, 4.0, 8.0, 10.0]  # backoff, capped


def test_other_errors_are_not_retried(lambda_client):
    client, stubber = lambda_client
    stubber.add_response("get_event_source_mapping", _mapping("Enabled", []), {"UUID": UUID})
    stubber.add_client_error(
        "update_event_source_mapping", "AccessDeniedException", http_status_code=403
    )
    with pytest.raises(client.exceptions.ClientError, match="AccessDenied"):
        enable_partial_batch_responses(client, RESOURCES, sleep=lambda s: None)
