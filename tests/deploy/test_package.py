"""``chalice package`` through localdev.aws.package, on a project copy: the SAM template and zip.

Chalice builds the deployment package for real, so pip must reach the package index (about
two seconds with a warm pip cache). The stage is configured the way deploy leaves it: the
stack's queue ARN, search endpoint and role.
"""

from __future__ import annotations

import io
import json
import zipfile
from types import SimpleNamespace

import pytest

from localdev.aws import chalice_config, deploy, policy, workspace
from localdev.aws.context import Context, DeployError
from localdev.aws.package import check_merged, check_roles, main, package
from tests.deploy.conftest import copy_project

STAGE = "dev"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:image-label-search-dev-uploads"
ROLES = {
    "APIHandler": "arn:aws:iam::123456789012:role/image-label-search-dev-api",
    "IndexImages": "arn:aws:iam::123456789012:role/image-label-search-dev-indexer",
}
SEARCH_ENDPOINT = "https://search-image-label-search-dev.us-east-1.es.amazonaws.com"
# Not the config.json defaults, so the template can only have them from the stage.
BATCH_SIZE, BATCHING_WINDOW = 25, 2
# A quota of 25 TPS with 10 calls in flight: 3 concurrent invocations (chalicelib/rate.py).
REKOGNITION_TPS, MAXIMUM_CONCURRENCY = "25", 3
# Moved to localdev/embedded/, which chalice does not package.
EMBEDDED_MODULES = {"sqlite_store.py", "text_analysis.py"}


def _isolate_aws(patch: pytest.MonkeyPatch, folder) -> None:
    """A region for chalice, and nothing on this machine that could point at a real account."""
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        patch.delenv(name, raising=False)
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    patch.setenv("AWS_REGION", "us-east-1")
    patch.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """(sam.json as a dict, the zip's file names), packaged once for this module."""
    root = tmp_path_factory.mktemp("package")
    project = copy_project(root / "project")
    # The stage as deploy writes it: the stack's queue, endpoint and one role per function.
    outputs = {
        "QueueName": QUEUE_ARN.rsplit(":", 1)[1],
        "QueueArn": QUEUE_ARN,
        "SearchEndpoint": SEARCH_ENDPOINT,
        "BucketName": "image-label-search-dev-123456789012-us-east-1",
        "ApiRoleArn": ROLES["APIHandler"],
        "IndexerRoleArn": ROLES["IndexImages"],
    }
    files = {fn: policy.policy_file_name(STAGE, fn) for fn in policy.FUNCTIONS}
    # Deploy writes the stage into its git-ignored copy of the project, which is packaged.
    generated = workspace.prepare(project, STAGE)
    deploy._write_stage_config(
        Context(stage=STAGE, project_dir=project, out=io.StringIO()),
        SimpleNamespace(api_auth="iam", uploads=False),
        outputs,
        files,
        "a-cursor-secret-for-the-package-test-only",
    )
    config = chalice_config.load(generated)
    chalice_config.update_stage(
        config,
        STAGE,
        environment={
            "BATCH_SIZE": str(BATCH_SIZE),
            "MAX_BATCHING_WINDOW_SECONDS": str(BATCHING_WINDOW),
            "REKOGNITION_TPS": REKOGNITION_TPS,
        },
        settings={},
    )
    chalice_config.save(generated, config)
    with pytest.MonkeyPatch.context() as patch:
        _isolate_aws(patch, root)
        template_path = package(generated, STAGE, root / "out")
    with zipfile.ZipFile(template_path.parent / "deployment.zip") as archive:
        names = archive.namelist()
    return json.loads(template_path.read_text()), names


def test_sqs_event_reports_batch_item_failures_with_the_stage_settings(packaged):
    template, _ = packaged
    event = template["Resources"]["IndexImages"]["Properties"]["Events"]
    assert event["IndexImagesSqsEventSource"] == {
        "Type": "SQS",
        "Properties": {
            "Queue": QUEUE_ARN,
            "BatchSize": BATCH_SIZE,
            "MaximumBatchingWindowInSeconds": BATCHING_WINDOW,
            "ScalingConfig": {"MaximumConcurrency": MAXIMUM_CONCURRENCY},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    }


def test_functions_have_the_names_the_log_groups_are_made_for(packaged):
    template, _ = packaged
    functions = {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    # The names of infra/template.yaml's log groups and of localdev/aws/policy.py's grants.
    assert {logical_id: p["FunctionName"] for logical_id, p in functions.items()} == {
        "APIHandler": "image-label-search-dev",
        "IndexImages": "image-label-search-dev-index_images",
    }


def test_each_function_has_its_own_role(packaged):
    """The packaged SAM template shows two roles: each function runs with its own."""
    template, _ = packaged
    resources = template["Resources"]
    assert {name: resources[name]["Properties"]["Role"] for name in ROLES} == ROLES
    # No role is created by the package: the stack (infra/template.yaml) owns both.
    assert not [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]


def test_a_shared_role_is_refused():
    shared = "arn:aws:iam::123456789012:role/image-label-search-dev-lambda"
    template = {
        "Resources": {
            name: {"Type": "AWS::Serverless::Function", "Properties": {"Role": shared}}
            for name in ROLES
        }
    }
    with pytest.raises(DeployError, match="share the role"):
        check_roles(template)


def test_the_bundle_ships_no_embedded_store(packaged):
    _, names = packaged
    assert "app.py" in names and "chalicelib/store/elasticsearch_store.py" in names
    embedded = [
        name
        for name in names
        if name.startswith("localdev/") or name.rsplit("/", 1)[-1] in EMBEDDED_MODULES
    ]
    assert embedded == []


def test_a_stage_without_search_endpoint_is_refused_before_packaging(project, tmp_path, capsys):
    # config.json as committed: SEARCH_ENDPOINT is empty until deploy writes the stack's.
    out = tmp_path / "out"
    with pytest.raises(DeployError, match=r"SEARCH_ENDPOINT is empty for stage dev"):
        package(project, STAGE, out)
    assert not out.exists()

    code = main(["--stage", STAGE, "--out", str(out), "--project-dir", str(project)])
    assert code == 1
    assert "make deploy STAGE=dev" in capsys.readouterr().err


def test_a_merge_that_missed_chalices_resources_is_an_error():
    # What a renamed logical ID in a future chalice would leave: a resource with no Type.
    template = {
        "Resources": {
            "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "IndexImages": {"Properties": {"FunctionName": "image-label-search-dev-index_images"}},
        }
    }
    with pytest.raises(DeployError, match="no function IndexImages"):
        check_merged(template)
