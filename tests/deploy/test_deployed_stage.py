"""deploy -> upload -> search -> browse -> teardown, against a moto server and a real node.

What is real: the deploy (stack, log groups, chalice, partial-batch flag, API key, index on the
test session's OpenSearch node), S3 -> SQS delivery of the upload's event (moto delivers it once
the bucket has the notification), the stage's own handler and routes (the deployed project's
``.chalice/config.json``, run by ``chalice.test.Client``), and the teardown.

What is modelled: moto's CloudFormation skips a bucket's NotificationConfiguration, so the test
applies the template's own declaration with boto3; Lambda's poller is localdev/poller.py (moto
cannot run functions without Docker); moto's DetectLabels answers one fixed label
("Mobile Phone") whatever the image.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from cfnlint.decode import decode_str
from chalice.test import Client

import app as app_module
from localdev.aws import access, chalice_config, deploy, stack
from localdev.aws.__main__ import main
from localdev.aws.context import Context, DeployError
from localdev.poller import LocalEventSourceMapping

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
APP, STAGE = "image-label-search", "dev"
KEY = "holiday photos/chelsea the cat.jpg"


def _template_notification(queue_arn: str) -> dict:
    """The bucket's NotificationConfiguration as infra/template.yaml declares it."""
    template, _ = decode_str((ROOT / "infra" / "template.yaml").read_text())
    declared = template["Resources"]["ImageBucket"]["Properties"]["NotificationConfiguration"]
    return {
        "QueueConfigurations": [
            {"Events": [entry["Event"]], "QueueArn": queue_arn}
            for entry in declared["QueueConfigurations"]
        ]
    }


def test_a_deployed_stage_indexes_an_upload_and_serves_it(
    aws, project, opensearch_url, search_client, capsys, tmp_path, serve_components
):
    alias = f"stagetest-{uuid.uuid4().hex[:8]}"
    config = chalice_config.load(project)
    config["environment_variables"]["INDEX_ALIAS"] = alias
    chalice_config.save(project, config)
    common = ["--stage", STAGE, "--project-dir", str(project), "--poll-seconds", "1"]
    code = main(
        ["deploy", *common, "--yes", "--api-auth", "api_key", "--search-endpoint", opensearch_url]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"Gallery:    make gallery STAGE={STAGE}" in out
    outputs = stack.outputs(stack.describe(aws.client("cloudformation"), f"{APP}-{STAGE}"))
    # A fresh clone (tracked files only) deploys the same stage: the stack remembers the choices.
    fresh = tmp_path / "fresh-clone"
    shutil.copytree(project, fresh, ignore=shutil.ignore_patterns(".deploy"))
    again = deploy.plan(
        Context(stage=STAGE, project_dir=fresh, session=aws), deploy.DeployOptions()
    )
    assert (again.api_auth, again.params["ExistingSearchEndpoint"]) == ("api_key", opensearch_url)

    s3, sqs = aws.client("s3"), aws.client("sqs")
    s3.put_bucket_notification_configuration(
        Bucket=outputs["BucketName"],
        NotificationConfiguration=_template_notification(outputs["QueueArn"]),
    )
    s3.upload_file(str(ROOT / "samples" / "chelsea-cat.jpg"), outputs["BucketName"], KEY)

    serve_components()  # this stage's settings
    generated = project / ".deploy" / STAGE  # the stage's project as deploy ran chalice on it
    with Client(app_module.app, stage_name=STAGE, project_dir=str(generated)) as client:
        poller = LocalEventSourceMapping(
            sqs,
            outputs["QueueUrl"],
            outputs["QueueArn"],
            handler=lambda event, _: client.lambda_.invoke("index_images", event).payload,
        )
        deadline = time.monotonic() + 30
        items: list = []
        while not items and time.monotonic() < deadline:
            poller.poll_once()
            search_client.indices.refresh(index=alias)
            items = client.http.get("/search?label=mobile%20phone").json_body["items"]
        assert [(item["bucket"], item["key"]) for item in items] == [(outputs["BucketName"], KEY)]
        assert [label["name"] for label in items[0]["labels"]] == ["Mobile Phone"]
        image = client.http.get(f"/images/{items[0]['id']}").json_body
        assert image["document"]["key"] == KEY
        assert quote(KEY) in image["url"]  # a presigned GET of the object itself

    # -- the gallery of the deployed stage: the proxy's upstream, auth and key --------------
    ctx = Context(stage=STAGE, project_dir=project, session=aws)
    upstream = access.stage_api(ctx)
    apigateway = aws.client("apigateway")
    (key,) = apigateway.get_api_keys(includeValues=True)["items"]
    (rest_api,) = apigateway.get_rest_apis()["items"]
    assert upstream.url == ctx.names.rest_api_url(rest_api["id"])
    assert (upstream.service, upstream.auth, upstream.api_key) == (
        "execute-api",
        "api_key",
        key["value"],
    )
    assert upstream.proxy_arguments("us-east-1", 0)[-2:] == ["--api-key", key["value"]]

    assert main(["teardown", *common, "--yes", "--delete-index"]) == 0
    assert "Nothing left of stage dev" in capsys.readouterr().out


def test_dashboards_of_a_stage_open_through_the_signing_proxy(aws, project):
    """The stage's domain (an existing one here: moto's CloudFormation creates no domain)."""
    aws.client("opensearch").create_domain(
        DomainName="shared-search", EngineVersion="OpenSearch_2.19"
    )
    ctx = Context(stage=STAGE, project_dir=project, session=aws, waiting=stack.Waiting(1))
    decided = deploy.plan(ctx, deploy.DeployOptions(existing_domain="shared-search"))
    stack.deploy(
        aws.client("cloudformation"), ctx.stack_name, decided.params, {}, ctx.waiting, print
    )
    upstream = access.stage_dashboards(ctx)
    assert upstream.url == decided.params["ExistingSearchEndpoint"]
    assert (upstream.service, upstream.auth, upstream.api_key) == ("es", "iam", None)
    assert upstream.open_path == "/_dashboards/app/dashboards#/view/image-label-search-overview"


def test_browsing_a_stage_that_is_not_deployed_says_how_to_deploy(aws, project):
    ctx = Context(stage=STAGE, project_dir=project, session=aws)
    with pytest.raises(DeployError, match="make deploy STAGE=dev"):
        access.stage_api(ctx)
    with pytest.raises(DeployError, match="make deploy STAGE=dev"):
        access.stage_dashboards(ctx)


def test_a_stage_without_auth_is_throttled(aws, project, opensearch_url, capsys):
    common = ["--stage", STAGE, "--project-dir", str(project), "--poll-seconds", "1"]
    flags = ["--yes", "--api-auth", "none", "--search-endpoint", opensearch_url]
    assert main(["deploy", *common, *flags]) == 0
    assert (
        "API auth is none: stage throttled to 20 requests/s (burst 40)" in capsys.readouterr().out
    )
    apigateway = aws.client("apigateway")
    (rest_api,) = apigateway.get_rest_apis()["items"]
    settings = apigateway.get_stage(restApiId=rest_api["id"], stageName="api")["methodSettings"]
    assert settings["*/*"]["throttlingRateLimit"] == 20.0
    assert settings["*/*"]["throttlingBurstLimit"] == 40
    assert main(["teardown", *common, "--yes"]) == 0


def test_stack_only_then_package_gives_sam_the_stacks_roles_and_queue(
    aws, project, opensearch_url, capsys, tmp_path
):
    """The SAM/CDK path: supporting stack and index from deploy, the functions from a package."""
    from localdev.aws.package import main as package_main

    common = ["--stage", STAGE, "--project-dir", str(project), "--poll-seconds", "1"]
    flags = ["--yes", "--stack-only", "--search-endpoint", opensearch_url]
    assert main(["deploy", *common, *flags]) == 0
    assert "Stack ready; no functions deployed (--stack-only)" in capsys.readouterr().out
    assert aws.client("lambda").list_functions()["Functions"] == []
    outputs = stack.outputs(stack.describe(aws.client("cloudformation"), f"{APP}-{STAGE}"))

    out = tmp_path / "sam"
    assert package_main(["--stage", STAGE, "--out", str(out), "--project-dir", str(project)]) == 0
    resources = json.loads((out / "sam.json").read_text())["Resources"]
    assert resources["IndexImages"]["Properties"]["Role"] == outputs["IndexerRoleArn"]
    assert resources["APIHandler"]["Properties"]["Role"] == outputs["ApiRoleArn"]
    event = resources["IndexImages"]["Properties"]["Events"]["IndexImagesSqsEventSource"]
    assert event["Properties"]["Queue"] == outputs["QueueArn"]
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert resources["IndexImagesLogGroup"]["Properties"]["LogGroupName"] == (
        f"/aws/lambda/{APP}-{STAGE}-index_images"
    )
    assert main(["teardown", *common, "--yes"]) == 0
