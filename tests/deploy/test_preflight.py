"""Preflight: every problem is one line naming the setting and the fix, before anything exists.

AWS is a moto server (``aws`` fixture); where moto does not model AWS's answer (an SSO caller,
a bucket of another account, a stack in DELETE_FAILED) the one client concerned is a botocore
Stubber with AWS's documented response, passed through ``Context.clients``.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from localdev.aws import chalice_config
from localdev.aws.__main__ import main
from localdev.aws.context import Context
from localdev.aws.deploy import DeployOptions, PreflightFailed, checked_plan
from localdev.aws.stack import Waiting

pytestmark = pytest.mark.integration

ACCOUNT, STAGE, APP = "123456789012", "dev", "image-label-search"
ENDPOINT = "http://127.0.0.1:9"  # an existing cluster: preflight never calls it


def _ctx(project, session, **clients) -> Context:
    return Context(
        stage=STAGE, project_dir=project, session=session, waiting=Waiting(0), clients=clients
    )


def _problems(ctx: Context, options: DeployOptions | None = None) -> list[str]:
    options = options or DeployOptions(search_endpoint=ENDPOINT)
    try:
        checked_plan(ctx, options)
    except PreflightFailed as failed:
        return [problem.line() for problem in failed.report.problems]
    return []


def _set_stage_variables(project, **variables) -> None:
    config = chalice_config.load(project)
    config["stages"][STAGE]["environment_variables"].update(variables)
    chalice_config.save(project, config)


def test_a_good_stage_passes(aws, project):
    assert _problems(_ctx(project, aws)) == []


def test_a_region_without_rekognition_fails_before_anything_is_created(aws, project):
    session = boto3.Session(region_name="eu-north-1")
    problems = _problems(_ctx(project, session))
    assert problems == [
        "region: eu-north-1 does not offer Amazon Rekognition. Fix: deploy to a region that "
        "does (e.g. us-east-1, us-west-2, eu-west-1): export AWS_DEFAULT_REGION=<region>"
    ]
    assert session.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_a_batch_above_ten_without_a_window_is_refused(aws, project):
    _set_stage_variables(project, BATCH_SIZE="50", MAX_BATCHING_WINDOW_SECONDS="0")
    (problem,) = _problems(_ctx(project, aws))
    assert problem.startswith("BATCH_SIZE: Lambda rejects a batch size of 50")
    assert "set MAX_BATCHING_WINDOW_SECONDS to 1 or more" in problem


def test_names_are_checked_against_aws_rules(aws, project):
    config = chalice_config.load(project)
    config["stages"]["averyveryverylongstagename"] = config["stages"][STAGE]
    chalice_config.save(project, config)
    ctx = Context(stage="averyveryverylongstagename", project_dir=project, session=aws)
    problems = _problems(ctx, DeployOptions(bucket_name="My_Bucket"))
    assert any(p.startswith("stage: domain name 'image-label-search-averyvery") for p in problems)
    assert any(p.startswith("--bucket-name: 'My_Bucket' is not 3-63") for p in problems)


@pytest.mark.parametrize(
    ("admin", "reason"),
    [("*", "admits anyone"), (f"arn:aws:iam::{ACCOUNT}:root", "is an account root")],
)
def test_broad_admins_are_refused_unless_explicitly_allowed(aws, project, admin, reason):
    refused = DeployOptions(search_endpoint=ENDPOINT, admin_arns=[admin])
    (problem,) = _problems(_ctx(project, aws), refused)
    assert problem.startswith("--admin-arn: ") and reason in problem
    allowed = DeployOptions(search_endpoint=ENDPOINT, admin_arns=[admin], allow_broad_admins=True)
    assert _problems(_ctx(project, aws), allowed) == []


def test_open_uploads_need_an_explicit_flag(aws, project):
    options = DeployOptions(search_endpoint=ENDPOINT, api_auth="none", uploads=True)
    (problem,) = _problems(_ctx(project, aws), options)
    assert problem.startswith("--uploads: with API_AUTH=none anyone could store images")
    options.public_uploads = True
    assert _problems(_ctx(project, aws), options) == []


def test_a_bucket_of_this_account_outside_the_stack_is_refused(aws, project):
    bucket = f"{APP}-{STAGE}-{ACCOUNT}-us-east-1"
    aws.client("s3").create_bucket(Bucket=bucket)
    (problem,) = _problems(_ctx(project, aws))
    assert problem == (
        f"--bucket-name: bucket {bucket} already exists in this account outside the stack. "
        "Fix: pass another --bucket-name, or empty and delete that bucket"
    )


def test_a_bucket_of_another_account_is_refused(aws, project):
    """S3 answers 403 to HeadBucket with ExpectedBucketOwner when another account owns it."""
    s3 = boto3.client("s3", region_name="us-east-1")
    with Stubber(s3) as stubber:
        stubber.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
        problems = _problems(_ctx(project, aws, s3=s3))
    assert problems == [
        f"--bucket-name: bucket {APP}-{STAGE}-{ACCOUNT}-us-east-1 already exists in another "
        "account. Fix: pass another --bucket-name"
    ]


def test_existing_log_groups_are_adopted_not_failed_on(aws, project, capsys):
    logs = aws.client("logs")
    logs.create_log_group(logGroupName=f"/aws/lambda/{APP}-{STAGE}")  # a plain chalice deploy
    ctx = _ctx(project, aws)
    assert _problems(ctx) == []
    out = capsys.readouterr().out
    assert f"note: log group /aws/lambda/{APP}-{STAGE} exists (retention never expires)" in out


def test_a_stack_whose_deletion_failed_is_a_problem_naming_teardown(aws, project):
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    stack_id = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{APP}-{STAGE}/1"
    described = {
        "Stacks": [
            {
                "StackName": f"{APP}-{STAGE}",
                "StackId": stack_id,
                "CreationTime": "2026-01-01T00:00:00Z",
                "StackStatus": "DELETE_FAILED",
            }
        ]
    }
    event = {
        "StackId": stack_id,
        "EventId": "1",
        "StackName": f"{APP}-{STAGE}",
        "Timestamp": "2026-01-01T00:00:00Z",
        "LogicalResourceId": "ImageBucket",
        "ResourceStatus": "DELETE_FAILED",
        "ResourceStatusReason": "The bucket you tried to delete is not empty",
    }
    with Stubber(cfn) as stubber:
        # Read once, by the plan; every check uses what the plan found.
        stubber.add_response("describe_stacks", described, {"StackName": f"{APP}-{STAGE}"})
        stubber.add_response("describe_stack_events", {"StackEvents": [event]}, None)
        problems = _problems(_ctx(project, aws, cloudformation=cfn))
    assert problems == [
        f"stack: {APP}-{STAGE} is DELETE_FAILED (ImageBucket: The bucket you tried to delete is "
        f"not empty). Fix: finish the teardown first: make teardown STAGE={STAGE}"
    ]


def test_missing_credentials_are_one_line(aws, project, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    (problem,) = _problems(_ctx(project, boto3.Session(region_name="us-east-1")))
    assert problem.startswith("credentials: no AWS credentials found. Fix: run `aws configure`")


def test_plan_prints_checks_and_changes_and_changes_nothing(aws, project, capsys):
    code = main(["plan", "--stage", STAGE, "--project-dir", str(project)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "all checks passed" in out
    assert (
        f"stack {APP}-{STAGE}: create: bucket {APP}-{STAGE}-{ACCOUNT}-us-east-1, queue and "
        f"dead-letter queue, role, OpenSearch domain {APP}-{STAGE} (15-30 min)"
    ) in out
    assert f"function {APP}-{STAGE}-index_images: create" in out
    assert "REST API: create" in out
    assert aws.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_plan_exits_2_with_one_line_per_problem(aws, project, capsys):
    _set_stage_variables(project, BATCH_SIZE="50", MAX_BATCHING_WINDOW_SECONDS="0")
    code = main(["plan", "--stage", STAGE, "--project-dir", str(project), "--admin-arn", "*"])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert [line.split(":")[1].strip() for line in lines[:-1]] == ["BATCH_SIZE", "--admin-arn"]
    assert lines[-1] == "2 problem(s); nothing was changed"
