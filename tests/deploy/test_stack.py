"""Stack create/update/delete decisions that moto never produces (stubbed CloudFormation).

Each sequence is CloudFormation's documented behaviour: DescribeStacks by id still answers for
a deleted stack (status DELETE_COMPLETE), DescribeStackEvents lists newest first, a stack in
ROLLBACK_COMPLETE or ROLLBACK_FAILED can only be deleted, UPDATE_ROLLBACK_FAILED needs
ContinueUpdateRollback, and DELETE_FAILED is left by a deletion that could not finish.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from localdev.aws import stack
from localdev.aws.progress import StackWatcher

BODY = """
Parameters:
  A: {Type: String}
Resources:
  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: !Sub "${A}"}}
"""
NAME = "image-label-search-dev"
STACK_ID = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{NAME}/1"
REQUEST = {
    "StackName": NAME,
    "TemplateBody": BODY,
    "Parameters": [{"ParameterKey": "A", "ParameterValue": "x"}],
    "Capabilities": ["CAPABILITY_NAMED_IAM"],
    "Tags": [],
}


def _stack(status: str) -> dict:
    return {
        "Stacks": [
            {
                "StackName": NAME,
                "StackId": STACK_ID,
                "CreationTime": "2026-01-01T00:00:00Z",
                "StackStatus": status,
            }
        ]
    }


def _event(event_id: str, logical: str, status: str, reason: str = "", kind="AWS::SQS::Queue"):
    event = {
        "StackId": STACK_ID,
        "EventId": event_id,
        "StackName": NAME,
        "Timestamp": "2026-01-01T00:00:00Z",
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "ResourceStatus": status,
    }
    if reason:
        event["ResourceStatusReason"] = reason
    return event


def _events(stubber, *events, name=STACK_ID):
    stubber.add_response(
        "describe_stack_events", {"StackEvents": list(events)}, {"StackName": name}
    )


def _describe(stubber, status: str, name=NAME):
    stubber.add_response("describe_stacks", _stack(status), {"StackName": name})


@pytest.fixture
def cfn():
    client = boto3.client(
        "cloudformation",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _deploy(client, said: list[str], params=None):
    return stack.deploy(client, NAME, params or {"A": "x"}, {}, stack.Waiting(0), said.append, BODY)


def test_no_updates_to_be_performed_is_success(cfn):
    client, stubber = cfn
    _describe(stubber, "UPDATE_COMPLETE")
    _events(stubber, _event("old", NAME, "UPDATE_COMPLETE", kind="AWS::CloudFormation::Stack"))
    stubber.add_client_error(
        "update_stack",
        service_error_code="ValidationError",
        service_message="No updates are to be performed.",
        http_status_code=400,
        expected_params=REQUEST,
    )
    said = []
    assert _deploy(client, said) == "unchanged"
    assert said == []  # no waiting for an update that never started


def test_other_validation_errors_are_raised(cfn):
    client, stubber = cfn
    _describe(stubber, "CREATE_COMPLETE")
    _events(stubber)
    stubber.add_client_error(
        "update_stack",
        service_error_code="ValidationError",
        service_message="Parameters: [A] must have values",
        http_status_code=400,
    )
    with pytest.raises(client.exceptions.ClientError, match="must have values"):
        _deploy(client, [], {"A": ""})


def test_a_creation_streams_each_event_as_it_happens(cfn):
    client, stubber = cfn
    stubber.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {NAME} does not exist",
        http_status_code=400,
    )
    stubber.add_response("create_stack", {"StackId": STACK_ID}, {**REQUEST, "OnFailure": "DELETE"})
    _events(stubber, _event("1", "Q", "CREATE_IN_PROGRESS"))
    _describe(stubber, "CREATE_IN_PROGRESS", STACK_ID)
    # Newest first: the watcher prints them oldest first and each only once.
    _events(
        stubber,
        _event("3", NAME, "CREATE_COMPLETE", kind="AWS::CloudFormation::Stack"),
        _event("2", "Q", "CREATE_COMPLETE"),
        _event("1", "Q", "CREATE_IN_PROGRESS"),
    )
    _describe(stubber, "CREATE_COMPLETE", STACK_ID)
    said = []
    assert _deploy(client, said) == "created"
    assert said == [
        f"creating stack {NAME}",
        "[   0 s] Q (AWS::SQS::Queue): CREATE_IN_PROGRESS",
        "[   0 s] Q (AWS::SQS::Queue): CREATE_COMPLETE",
        f"[   0 s] {NAME} (AWS::CloudFormation::Stack): CREATE_COMPLETE",
    ]


def test_a_slow_domain_is_named_with_its_typical_time_and_elapsed_minutes():
    client = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    now = [0.0]
    said: list[str] = []
    domain = _event(
        "d1", "SearchDomain", "CREATE_IN_PROGRESS", kind="AWS::OpenSearchService::Domain"
    )
    with Stubber(client) as stubber:
        _events(stubber, domain)
        for _ in range(8):  # eight polls, a minute apart
            _describe(stubber, "CREATE_IN_PROGRESS", STACK_ID)
            _events(stubber, domain)
        _describe(stubber, "CREATE_COMPLETE", STACK_ID)
        watcher = StackWatcher(
            client,
            said.append,
            poll_seconds=60,
            clock=lambda: now[0],
            sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
        )
        settled = watcher.wait(STACK_ID)
    assert settled["StackStatus"] == "CREATE_COMPLETE"
    assert said[0] == "[   0 s] SearchDomain (AWS::OpenSearchService::Domain): CREATE_IN_PROGRESS"
    notes = said[1:]
    assert notes[0] == (
        "OpenSearch domain (SearchDomain): in progress, typically 15-30 min, 60 s so far"
    )
    assert notes[-1] == (
        "OpenSearch domain (SearchDomain): in progress, typically 15-30 min, 7 min so far"
    )
    assert len(notes) == 7


def test_a_failed_creation_is_reported_by_stack_id_after_it_was_deleted(cfn):
    client, stubber = cfn
    stubber.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {NAME} does not exist",
        http_status_code=400,
    )
    stubber.add_response("create_stack", {"StackId": STACK_ID}, None)
    failed = _event("2", "Q", "CREATE_FAILED", "Resource handler returned message: Invalid name")
    _events(stubber, failed)
    _describe(stubber, "DELETE_COMPLETE", STACK_ID)
    _events(stubber, failed)
    with pytest.raises(stack.StackError, match="DELETE_COMPLETE, not CREATE_COMPLETE: Q: Resource"):
        _deploy(client, [])


@pytest.mark.parametrize("status", ["ROLLBACK_COMPLETE", "ROLLBACK_FAILED"])
def test_a_failed_first_creation_is_deleted_and_created_again(cfn, status):
    client, stubber = cfn
    _describe(stubber, status)
    _events(stubber, _event("1", "Q", "CREATE_FAILED", "Queue name taken"), name=NAME)
    _events(stubber, _event("1", "Q", "CREATE_FAILED", "Queue name taken"))
    stubber.add_response("delete_stack", {}, {"StackName": NAME})
    _events(stubber)
    _describe(stubber, "DELETE_COMPLETE", STACK_ID)
    stubber.add_response("create_stack", {"StackId": STACK_ID}, {**REQUEST, "OnFailure": "DELETE"})
    _events(stubber)
    _describe(stubber, "CREATE_COMPLETE", STACK_ID)
    said = []
    assert _deploy(client, said) == "created"
    assert said[0] == (
        f"stack {NAME} is {status} after a failed creation (Q: Queue name taken); deleting it first"
    )


def test_an_update_rollback_that_failed_is_continued_before_the_update(cfn):
    client, stubber = cfn
    _describe(stubber, "UPDATE_ROLLBACK_FAILED")
    _events(stubber)
    stubber.add_response("continue_update_rollback", {}, {"StackName": NAME})
    _events(stubber)
    _describe(stubber, "UPDATE_ROLLBACK_COMPLETE", STACK_ID)
    _events(stubber)
    stubber.add_response("update_stack", {"StackId": STACK_ID}, REQUEST)
    _events(stubber)
    _describe(stubber, "UPDATE_COMPLETE", STACK_ID)
    said = []
    assert _deploy(client, said) == "updated"
    assert said[0] == f"stack {NAME} is UPDATE_ROLLBACK_FAILED; continuing the rollback first"


def test_deploy_refuses_a_stack_whose_deletion_failed_and_says_to_tear_down(cfn):
    client, stubber = cfn
    _describe(stubber, "DELETE_FAILED")
    _events(stubber, _event("1", "ImageBucket", "DELETE_FAILED", "bucket not empty"), name=NAME)
    with pytest.raises(stack.StackError, match="DELETE_FAILED: a teardown did not finish"):
        _deploy(client, [])


def test_teardown_deletes_a_delete_failed_stack_again(cfn):
    client, stubber = cfn
    _describe(stubber, "DELETE_FAILED")
    _events(stubber, _event("1", "ImageBucket", "DELETE_FAILED", "bucket not empty"), name=NAME)
    _events(stubber, _event("1", "ImageBucket", "DELETE_FAILED", "bucket not empty"))
    stubber.add_response("delete_stack", {}, {"StackName": NAME})
    _events(stubber, _event("2", "ImageBucket", "DELETE_COMPLETE"))
    _describe(stubber, "DELETE_COMPLETE", STACK_ID)
    said = []
    assert stack.delete(client, NAME, stack.Waiting(0), said.append) is True
    assert said[:2] == [
        f"stack {NAME} is DELETE_FAILED (ImageBucket: bucket not empty); deleting it again",
        f"deleting stack {NAME}",
    ]


def test_a_deletion_that_fails_again_names_what_to_retain(cfn):
    client, stubber = cfn
    _describe(stubber, "CREATE_COMPLETE")
    _events(stubber)
    stubber.add_response("delete_stack", {}, {"StackName": NAME})
    failed = _event("2", "ImageBucket", "DELETE_FAILED", "bucket not empty")
    _events(stubber, failed)
    _describe(stubber, "DELETE_FAILED", STACK_ID)
    stubber.add_response(
        "describe_stack_resources",
        {
            "StackResources": [
                {
                    "LogicalResourceId": "ImageBucket",
                    "ResourceType": "AWS::S3::Bucket",
                    "Timestamp": "2026-01-01T00:00:00Z",
                    "ResourceStatus": "DELETE_FAILED",
                }
            ]
        },
        {"StackName": NAME},
    )
    _events(stubber, failed, name=NAME)
    with pytest.raises(stack.StackError, match="--retain-resources ImageBucket"):
        stack.delete(client, NAME, stack.Waiting(0), print)


def test_a_failed_update_names_the_failed_resources(cfn):
    client, stubber = cfn
    _describe(stubber, "UPDATE_COMPLETE")
    _events(stubber)
    stubber.add_response("update_stack", {"StackId": "id"}, None)
    failed = _event("e", "SearchDomain", "UPDATE_FAILED", "Invalid instance type")
    _events(stubber, failed)
    _describe(stubber, "UPDATE_ROLLBACK_COMPLETE", STACK_ID)
    _events(stubber, failed)
    with pytest.raises(stack.StackError, match="SearchDomain: Invalid instance type"):
        _deploy(client, [], {"A": "y"})


def test_unknown_parameters_are_refused_before_any_call(cfn):
    client, _ = cfn
    with pytest.raises(stack.StackError, match=r"not in the template: \['Typo'\]"):
        _deploy(client, [], {"A": "x", "Typo": "y"})
