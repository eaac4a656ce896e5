"""Stack create/update/delete decisions that moto never produces (stubbed CloudFormation)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from localdev.aws import stack
from localdev.aws.context import principal_arn

BODY = """
Parameters:
  A: {Type: String}
Resources:
  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: !Sub "${A}"}}
"""
NAME = "image-label-search-dev"


def _stack(status: str) -> dict:
    return {
        "Stacks": [
            {
                "StackName": NAME,
                "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{NAME}/1",
                "CreationTime": "2026-01-01T00:00:00Z",
                "StackStatus": status,
            }
        ]
    }


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


def test_no_updates_to_be_performed_is_success(cfn):
    client, stubber = cfn
    stubber.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": NAME})
    stubber.add_client_error(
        "update_stack",
        service_error_code="ValidationError",
        service_message="No updates are to be performed.",
        http_status_code=400,
        expected_params={
            "StackName": NAME,
            "TemplateBody": BODY,
            "Parameters": [{"ParameterKey": "A", "ParameterValue": "x"}],
            "Capabilities": ["CAPABILITY_NAMED_IAM"],
            "Tags": [],
        },
    )
    said = []
    outcome = stack.deploy(client, NAME, {"A": "x"}, {}, stack.Waiting(1), said.append, BODY)
    assert outcome == "unchanged"
    assert said == []  # no waiting for an update that never started


def test_other_validation_errors_are_raised(cfn):
    client, stubber = cfn
    stubber.add_response("describe_stacks", _stack("CREATE_COMPLETE"), {"StackName": NAME})
    stubber.add_client_error(
        "update_stack",
        service_error_code="ValidationError",
        service_message="Parameters: [A] must have values",
        http_status_code=400,
    )
    with pytest.raises(client.exceptions.ClientError, match="must have values"):
        stack.deploy(client, NAME, {"A": ""}, {}, stack.Waiting(1), print, BODY)


def test_a_rolled_back_first_creation_is_deleted_and_created_again(cfn):
    client, stubber = cfn
    stubber.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), {"StackName": NAME})
    stubber.add_response("delete_stack", {}, {"StackName": NAME})
    stubber.add_response("describe_stacks", _stack("DELETE_COMPLETE"), {"StackName": NAME})
    stubber.add_response(
        "create_stack",
        {"StackId": "id"},
        {
            "StackName": NAME,
            "TemplateBody": BODY,
            "Parameters": [{"ParameterKey": "A", "ParameterValue": "x"}],
            "Capabilities": ["CAPABILITY_NAMED_IAM"],
            "Tags": [{"Key": "stage", "Value": "dev"}],
            "OnFailure": "ROLLBACK",
        },
    )
    stubber.add_response("describe_stacks", _stack("CREATE_COMPLETE"), {"StackName": NAME})
    said = []
    outcome = stack.deploy(
        client, NAME, {"A": "x"}, {"stage": "dev"}, stack.Waiting(1), said.append, BODY
    )
    assert outcome == "created"
    assert said[0].startswith(f"stack {NAME} is ROLLBACK_COMPLETE after a failed creation")


def test_a_failed_update_names_the_failed_resources(cfn):
    client, stubber = cfn
    stubber.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": NAME})
    stubber.add_response("update_stack", {"StackId": "id"}, None)
    stubber.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_COMPLETE"), {"StackName": NAME})
    stubber.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                {
                    "StackId": "id",
                    "EventId": "e",
                    "StackName": NAME,
                    "Timestamp": "2026-01-01T00:00:00Z",
                    "LogicalResourceId": "SearchDomain",
                    "ResourceStatus": "UPDATE_FAILED",
                    "ResourceStatusReason": "Invalid instance type",
                }
            ]
        },
        {"StackName": NAME},
    )
    with pytest.raises(stack.StackError, match="SearchDomain: Invalid instance type"):
        stack.deploy(client, NAME, {"A": "y"}, {}, stack.Waiting(1), print, BODY)


def test_unknown_parameters_are_refused_before_any_call(cfn):
    client, _ = cfn
    with pytest.raises(stack.StackError, match=r"not in the template: \['Typo'\]"):
        stack.deploy(client, NAME, {"A": "x", "Typo": "y"}, {}, stack.Waiting(1), print, BODY)


def test_waiting_covers_an_hour_at_any_interval():
    assert stack.Waiting(15).config() == {"Delay": 15, "MaxAttempts": 240}
    assert stack.Waiting(1).config()["MaxAttempts"] == 3600


@pytest.mark.parametrize(
    ("caller", "principal"),
    [
        (
            "arn:aws:sts::123456789012:assumed-role/Admin/jane@example.com",
            "arn:aws:iam::123456789012:role/Admin",
        ),
        ("arn:aws:iam::123456789012:user/jane", "arn:aws:iam::123456789012:user/jane"),
        ("arn:aws:sts::123456789012:user/moto", "arn:aws:iam::123456789012:user/moto"),
        ("arn:aws-cn:sts::123456789012:assumed-role/R/s", "arn:aws-cn:iam::123456789012:role/R"),
    ],
)
def test_caller_becomes_a_resource_policy_principal(caller, principal):
    assert principal_arn(caller) == principal
