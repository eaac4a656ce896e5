"""deploy -> status -> deploy again -> teardown against a moto server, leaving nothing behind.

What runs for real: the CloudFormation template (moto creates the bucket, both queues with the
redrive policy, the role with its inline policy, the log groups), ``chalice deploy`` and
``chalice delete`` as subprocesses (functions, SQS event source mapping, REST API), the partial
batch flag, the API key and usage plan, and the index template + alias on the real OpenSearch
node of the test session (the "existing endpoint" path: moto cannot serve a search domain).
The saved objects go to tests/deploy/fake_dashboards.py.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid

import pytest

from chalicelib.store.mapping import versioned_index
from localdev.aws import chalice_config, deploy, stack
from localdev.aws.__main__ import main
from localdev.aws.context import Context, DeployError
from localdev.aws.dashboards import SAVED_OBJECTS_PATH
from tests.deploy.fake_dashboards import running_fake_dashboards
from tests.deploy.policy_rules import Expected, violations

pytestmark = pytest.mark.integration

ACCOUNT, REGION = "123456789012", "us-east-1"
APP, STAGE = "image-label-search", "dev"
BUCKET = f"{APP}-{STAGE}-{ACCOUNT}-{REGION}"
FUNCTIONS = {f"{APP}-{STAGE}", f"{APP}-{STAGE}-index_images"}


def _run(capsys, transcript: list[str], *argv: str) -> tuple[int, str]:
    started = time.monotonic()
    code = main(list(argv))
    captured = capsys.readouterr()
    out = captured.out + captured.err
    elapsed = time.monotonic() - started
    transcript.append(
        f"$ python -m localdev.aws {' '.join(argv)}\n{out}(exit {code}, {elapsed:.1f} s)\n"
    )
    return code, out


def _everything(session) -> dict[str, list]:
    """Every kind of thing deploy creates, as moto sees it."""
    cfn, s3, sqs = session.client("cloudformation"), session.client("s3"), session.client("sqs")
    lam, iam, apigw = session.client("lambda"), session.client("iam"), session.client("apigateway")
    logs = session.client("logs")
    return {
        "stacks": [
            s["StackName"]
            for s in cfn.list_stacks()["StackSummaries"]
            if s["StackStatus"] != "DELETE_COMPLETE"
        ],
        "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
        "queues": sqs.list_queues().get("QueueUrls", []),
        "functions": [f["FunctionName"] for f in lam.list_functions()["Functions"]],
        "mappings": [m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]],
        "roles": [r["RoleName"] for r in iam.list_roles()["Roles"]],
        "rest_apis": [a["id"] for a in apigw.get_rest_apis()["items"]],
        "api_keys": [k["id"] for k in apigw.get_api_keys()["items"]],
        "usage_plans": [p["id"] for p in apigw.get_usage_plans()["items"]],
        "log_groups": [
            g["logGroupName"]
            for g in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
        ],
    }


def test_deploy_status_redeploy_teardown(aws, project, opensearch_url, search_client, capsys):
    alias = f"deploytest-{uuid.uuid4().hex[:8]}"
    config = chalice_config.load(project)
    config["environment_variables"]["INDEX_ALIAS"] = alias
    # A Rekognition quota: the mapping's maximum concurrency and the redelivery grant follow.
    config["environment_variables"]["REKOGNITION_TPS"] = "25"
    chalice_config.save(project, config)
    original = chalice_config.load(project)
    transcript: list[str] = []
    common = ["--stage", STAGE, "--project-dir", str(project), "--poll-seconds", "1"]
    assert all(not things for things in _everything(aws).values())
    generated = project / ".deploy" / STAGE  # deploy's git-ignored copy of the project

    with running_fake_dashboards() as fake:
        code, out = _run(
            capsys,
            transcript,
            "deploy",
            *common,
            "--yes",
            "--api-auth",
            "api_key",
            "--search-endpoint",
            opensearch_url,
            "--dashboards-url",
            fake.url,
        )
        assert code == 0, out
        assert "created: bucket" in out

        # -- the stack --------------------------------------------------------------------------
        outputs = stack.outputs(stack.describe(aws.client("cloudformation"), f"{APP}-{STAGE}"))
        assert outputs["BucketName"] == BUCKET
        assert outputs["SearchEndpoint"] == opensearch_url
        role_names = {"api_handler": f"{APP}-{STAGE}-api", "index_images": f"{APP}-{STAGE}-indexer"}
        role_arns = {fn: f"arn:aws:iam::{ACCOUNT}:role/{name}" for fn, name in role_names.items()}
        assert outputs["ApiRoleArn"] == role_arns["api_handler"]
        assert outputs["IndexerRoleArn"] == role_arns["index_images"]
        assert "FunctionRoleArn" not in outputs
        sqs = aws.client("sqs")
        queue = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=f"{APP}-{STAGE}-uploads")["QueueUrl"],
            AttributeNames=["All"],
        )["Attributes"]
        assert queue["VisibilityTimeout"] == str(6 * 60)  # 6 x lambda_timeout 60, window 0
        assert json.loads(queue["RedrivePolicy"]) == {
            "deadLetterTargetArn": outputs["DeadLetterQueueArn"],
            "maxReceiveCount": 5,
        }
        dlq = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=f"{APP}-{STAGE}-uploads-dlq")["QueueUrl"],
            AttributeNames=["MessageRetentionPeriod"],
        )["Attributes"]
        assert dlq["MessageRetentionPeriod"] == str(14 * 24 * 3600)
        encryption = aws.client("s3").get_bucket_encryption(Bucket=BUCKET)
        rule = encryption["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

        # -- each role carries exactly its function's written policy file ----------------------
        iam = aws.client("iam")
        assert sorted(r["RoleName"] for r in iam.list_roles()["Roles"]) == sorted(
            role_names.values()
        )
        expected = Expected(
            ACCOUNT, REGION, APP, STAGE, BUCKET, alias=alias, redelivers_throttled=True
        )
        for function, role_name in role_names.items():
            written = json.loads(
                (generated / ".chalice" / f"policy-dev-{function}.json").read_text()
            )
            on_role = iam.get_role_policy(RoleName=role_name, PolicyName="least-privilege")
            on_role = on_role["PolicyDocument"]
            on_role = json.loads(on_role) if isinstance(on_role, str) else on_role
            assert on_role == written, function
            assert violations(written, expected, function) == [], function
        assert iam.list_role_policies(RoleName=role_names["api_handler"])["PolicyNames"] == [
            "least-privilege"
        ]
        # -- the clone's tracked files are as they were; the stage's values are in .deploy/ ------
        assert chalice_config.load(project) == original
        assert not list((project / ".chalice").glob("policy-*.json"))
        assert not (project / ".chalice" / "deployed").exists()
        after = chalice_config.load(generated)
        dev = after["stages"]["dev"]
        assert not {"manage_iam_role", "iam_role_arn", "iam_policy_file"} & set(dev)
        assert dev["lambda_functions"] == {
            function: {
                "iam_policy_file": f"policy-dev-{function}.json",
                "manage_iam_role": False,
                "iam_role_arn": role_arns[function],
            }
            for function in role_names
        }
        from chalice.config import Config

        for function in role_names:  # as chalice resolves them
            resolved = Config(chalice_stage=STAGE, function_name=function, config_from_disk=after)
            assert (resolved.manage_iam_role, resolved.iam_role_arn) == (False, role_arns[function])
        assert dev["environment_variables"] == {
            **original["stages"]["dev"]["environment_variables"],
            "QUEUE_NAME": f"{APP}-{STAGE}-uploads",
            "QUEUE_ARN": outputs["QueueArn"],
            "SEARCH_ENDPOINT": opensearch_url,
            "IMAGE_BUCKET": BUCKET,
            "API_AUTH": "api_key",
            "CURSOR_SECRET": dev["environment_variables"]["CURSOR_SECRET"],
            "STAGE": STAGE,
        }
        secret = dev["environment_variables"]["CURSOR_SECRET"]
        assert len(secret) >= 32
        assert after["stages"]["prod"] == original["stages"]["prod"]
        assert {k: v for k, v in after.items() if k != "stages"} == {
            k: v for k, v in original.items() if k != "stages"
        }

        # -- functions, the event source and its partial-batch flag -----------------------------
        lam = aws.client("lambda")
        functions = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
        assert set(functions) == FUNCTIONS
        assert {name: f["Role"] for name, f in functions.items()} == {
            f"{APP}-{STAGE}": role_arns["api_handler"],
            f"{APP}-{STAGE}-index_images": role_arns["index_images"],
        }
        (mapping,) = lam.list_event_source_mappings()["EventSourceMappings"]
        assert mapping["EventSourceArn"] == outputs["QueueArn"]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        # 25 TPS, 10 calls in flight per invocation: 3 invocations (chalicelib/rate.py).
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": 3}
        deployed = json.loads((generated / ".chalice" / "deployed" / "dev.json").read_text())
        (sqs_event,) = [r for r in deployed["resources"] if r["resource_type"] == "sqs_event"]
        assert sqs_event["event_uuid"] == mapping["UUID"]
        groups = set(_everything(aws)["log_groups"])
        assert groups == {f"/aws/lambda/{name}" for name in FUNCTIONS}

        # -- API key bound to the REST API's stage ----------------------------------------------
        apigw = aws.client("apigateway")
        (rest_api,) = [r for r in deployed["resources"] if r["resource_type"] == "rest_api"]
        (key,) = apigw.get_api_keys()["items"]
        (plan,) = apigw.get_usage_plans()["items"]
        assert key["name"] == plan["name"] == f"{APP}-{STAGE}"
        assert plan["apiStages"] == [{"apiId": rest_api["rest_api_id"], "stage": "api"}]
        assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [
            key["id"]
        ]

        # -- the index on the real node, the saved objects on the fake Dashboards ----------------
        assert search_client.indices.get_alias(name=alias) == {
            versioned_index(alias): {"aliases": {alias: {"is_write_index": True}}}
        }
        assert alias in search_client.indices.get_template(name=alias)
        (imported,) = fake.imports
        assert imported.content == SAVED_OBJECTS_PATH.read_bytes()
        assert imported.query == {"overwrite": ["true"]}
        assert f"{fake.url}/app/dashboards#/view/image-label-search-overview" in out
        assert rest_api["rest_api_url"] in out and BUCKET in out

        # -- status ------------------------------------------------------------------------------
        dlq_url = sqs.get_queue_url(QueueName=f"{APP}-{STAGE}-uploads-dlq")["QueueUrl"]
        for _ in range(2):
            sqs.send_message(QueueUrl=dlq_url, MessageBody='{"evidence": true}')
        code, out = _run(capsys, transcript, "status", *common)
        assert code == 0
        assert f"stack          {APP}-{STAGE}: CREATE_COMPLETE" in out
        assert f"dead letters   {APP}-{STAGE}-uploads-dlq: 2 visible" in out
        assert "FunctionResponseTypes=['ReportBatchItemFailures']" in out
        assert f"(auth: api_key, API key {key['id']})" in out  # as deployed, from the stack
        code, out = _run(capsys, transcript, "status", *common, "--json")
        report = json.loads(out)
        assert report["event_sources"][0]["function_response_types"] == ["ReportBatchItemFailures"]
        assert report["dead_letter_queue"]["visible"] == 2
        assert {f["name"] for f in report["functions"]} == FUNCTIONS

        # -- deploy again: converges, creates nothing new ----------------------------------------
        config_before = (generated / ".chalice" / "config.json").read_text()
        code, out = _run(capsys, transcript, "deploy", *common, "--dashboards-url", fake.url)
        assert code == 0, out
        assert (generated / ".chalice" / "config.json").read_text() == config_before
        assert ".deploy/dev/.chalice/config.json stage dev: unchanged" in out
        (again,) = lam.list_event_source_mappings()["EventSourceMappings"]
        assert again["UUID"] == mapping["UUID"]
        # The cursor key is read back from the deployed function: tokens in flight stay valid.
        variables = lam.get_function_configuration(FunctionName=f"{APP}-{STAGE}")["Environment"]
        assert variables["Variables"]["CURSOR_SECRET"] == secret
        assert again["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert [k["id"] for k in apigw.get_api_keys()["items"]] == [key["id"]]
        assert [p["id"] for p in apigw.get_usage_plans()["items"]] == [plan["id"]]
        assert len(fake.imports) == 2

        # -- browser uploads on: the role may PutObject under uploads/, the bucket's CORS
        #    origin is the API's, and the stage names the bucket ------------------------------
        code, out = _run(capsys, transcript, "deploy", *common, "--uploads")
        assert code == 0, out
        origin = rest_api["rest_api_url"].split("/api/")[0]
        params = stack.parameters(stack.describe(aws.client("cloudformation"), f"{APP}-{STAGE}"))
        assert params["UploadCorsOrigin"] == origin
        env = chalice_config.load(generated)["stages"]["dev"]["environment_variables"]
        assert env["UPLOAD_BUCKET"] == BUCKET
        # (moto's stack update leaves a role's inline policy as created, so the check is on what
        # CloudFormation is given: the parameters, which must be the files.)
        expected = Expected(
            ACCOUNT,
            REGION,
            APP,
            STAGE,
            BUCKET,
            upload_prefix="uploads/",
            alias=alias,
            redelivers_throttled=True,
        )
        for function, parameter in (
            ("api_handler", "ApiPolicyDocument"),
            ("index_images", "IndexerPolicyDocument"),
        ):
            written = json.loads(
                (generated / ".chalice" / f"policy-dev-{function}.json").read_text()
            )
            assert json.loads(params[parameter]) == written, function
            assert violations(written, expected, function) == [], function
        api_grants = json.loads(params["ApiPolicyDocument"])["Statement"]
        assert any("s3:PutObject" in s["Action"] for s in api_grants)
        # ... and stays on, without another stack change, when deploy runs again.
        code, out = _run(capsys, transcript, "deploy", *common)
        assert code == 0, out
        assert "Bucket CORS" not in out
        # (the choice of uploads is remembered by the stack's tags, not by a file)
        assert chalice_config.load(generated)["stages"]["dev"]["environment_variables"] == env

    # -- teardown ----------------------------------------------------------------------------------
    code, out = _run(capsys, transcript, "teardown", *common, "--yes", "--delete-index")
    assert code == 0, out
    assert "Nothing left of stage dev" in out
    assert _everything(aws) == {
        "stacks": [],
        "buckets": [],
        "queues": [],
        "functions": [],
        "mappings": [],
        "roles": [],
        "rest_apis": [],
        "api_keys": [],
        "usage_plans": [],
        "log_groups": [],
    }
    assert not search_client.indices.exists_alias(name=alias)
    assert not search_client.indices.exists_template(name=alias)
    code, out = _run(capsys, transcript, "status", *common)
    assert f"{APP}-{STAGE}: NOT_DEPLOYED" in out
    with capsys.disabled():
        print("\n" + "\n".join(transcript))


def test_refuses_to_create_or_destroy_without_confirmation(aws, project, capsys):
    common = ["--stage", STAGE, "--project-dir", str(project)]
    config_before = (project / ".chalice" / "config.json").read_text()
    assert main(["deploy", *common, "--search-endpoint", "http://127.0.0.1:9"]) == 1
    assert "pass --yes to confirm creating the stack" in capsys.readouterr().err
    assert main(["teardown", *common]) == 1
    assert "pass --yes to confirm the teardown" in capsys.readouterr().err
    assert _everything(aws)["stacks"] == []
    # Nothing was written into the project either.
    assert not (project / ".deploy").exists()
    assert (project / ".chalice" / "config.json").read_text() == config_before


def test_existing_domain_is_used_instead_of_creating_one(aws, project):
    """--existing-domain: the endpoint and ARN come from the domain; the role may call it."""
    opensearch = aws.client("opensearch")
    arn = opensearch.create_domain(DomainName="shared-search", EngineVersion="OpenSearch_2.11")[
        "DomainStatus"
    ]["ARN"]
    ctx = Context(stage=STAGE, project_dir=project, session=aws, waiting=stack.Waiting(1))
    decided = deploy.plan(ctx, deploy.DeployOptions(existing_domain="shared-search"))
    endpoint = decided.params["ExistingSearchEndpoint"]
    assert endpoint.startswith("https://") and "shared-search" in endpoint
    assert decided.params["ExistingDomainArn"] == arn
    assert decided.params["SearchDomainName"] == ""
    expected = Expected(ACCOUNT, REGION, APP, STAGE, BUCKET, arn)
    assert set(decided.policies) == {"api_handler", "index_images"}
    for function, document in decided.policies.items():
        assert violations(document, expected, function) == [], function
    assert json.loads(decided.params["ApiPolicyDocument"]) == decided.policies["api_handler"]
    assert json.loads(decided.params["IndexerPolicyDocument"]) == decided.policies["index_images"]

    stack.deploy(
        aws.client("cloudformation"),
        ctx.stack_name,
        decided.params,
        decided.tags,
        ctx.waiting,
        print,
    )
    outputs = stack.outputs(stack.describe(aws.client("cloudformation"), ctx.stack_name))
    assert outputs["SearchEndpoint"] == endpoint
    assert outputs["SearchDomainArn"] == arn
    assert deploy.dashboards_base_for(ctx, outputs, decided.search) == endpoint + "/_dashboards"
    assert "SearchEngineVersion" not in outputs  # the stack created no domain

    # Deploying again without the option keeps using that domain.
    again = deploy.plan(ctx, deploy.DeployOptions())
    assert again.params["ExistingSearchEndpoint"] == endpoint
    assert again.params["ExistingDomainArn"] == arn


def test_index_setup_gives_up_with_the_endpoint_in_the_message(aws, project):
    ctx = Context(stage=STAGE, project_dir=project, session=aws)
    with pytest.raises(DeployError, match=r"index set-up on http://127.0.0.1:9 failed after 2"):
        deploy.setup_index(ctx, "http://127.0.0.1:9", attempts=2, first_delay=0)


def test_elasticsearch_domains_get_the_kibana_url(aws, project):
    aws.client("opensearch").create_domain(DomainName="old-es", EngineVersion="Elasticsearch_7.10")
    ctx = Context(stage=STAGE, project_dir=project, session=aws)
    target = deploy.describe_existing_domain(ctx, "old-es")
    assert target.engine_version == "Elasticsearch_7.10"
    outputs = {"SearchEndpoint": target.endpoint, "SearchDomainArn": target.domain_arn}
    assert deploy.dashboards_base_for(ctx, outputs, deploy.SearchTarget("", None)) == (
        target.endpoint + "/_plugin/kibana"
    )


def test_switching_away_from_the_stack_domain_needs_yes(aws, project, monkeypatch):
    """A stack that created its domain would delete it (and the index) on this update."""
    created_domain = {
        "StackStatus": "CREATE_COMPLETE",
        "Parameters": [
            {"ParameterKey": "ExistingSearchEndpoint", "ParameterValue": ""},
            {"ParameterKey": "BucketName", "ParameterValue": BUCKET},
        ],
        "Outputs": [],
    }
    monkeypatch.setattr(deploy.stack, "describe", lambda cfn, name: created_domain)
    ctx = Context(stage=STAGE, project_dir=project, session=aws)
    options = deploy.DeployOptions(search_endpoint="http://127.0.0.1:9200")
    assert deploy.plan(ctx, options).deletes_domain is True
    config_before = (project / ".chalice" / "config.json").read_text()
    with pytest.raises(DeployError, match="deletes the stack's OpenSearch domain"):
        deploy.deploy(ctx, options)
    assert not (project / ".deploy").exists()
    assert (project / ".chalice" / "config.json").read_text() == config_before
    # Staying on the domain is not a switch.
    assert deploy.plan(ctx, deploy.DeployOptions()).deletes_domain is False


def test_any_clone_deploys_the_same_stage_and_any_clone_tears_it_down(
    aws, project, opensearch_url, search_client, capsys, tmp_path
):
    """chalice's state file is git-ignored: a second clone must reuse, never duplicate.

    Clone 2 first runs a plain ``chalice deploy`` (what the old deploy path did from a clone
    without the state file): a second REST API and a second event source mapping appear and
    ``status`` names them. ``deploy`` from clone 2 then keeps the oldest of each, and a teardown
    from clone 3, which has never deployed anything, removes every copy.
    """
    alias = f"clonetest-{uuid.uuid4().hex[:8]}"
    config = chalice_config.load(project)
    config["environment_variables"]["INDEX_ALIAS"] = alias
    chalice_config.save(project, config)
    clones = {}
    for name in ("clone2", "clone3"):
        clones[name] = tmp_path / name
        shutil.copytree(project, clones[name])
    transcript: list[str] = []
    flags = ["--poll-seconds", "1", "--search-endpoint", opensearch_url]

    def common(where):
        return ["--stage", STAGE, "--project-dir", str(where)]

    code, out = _run(capsys, transcript, "deploy", *common(project), *flags, "--yes")
    assert code == 0, out
    lam, apigw = aws.client("lambda"), aws.client("apigateway")
    (first_api,) = [a["id"] for a in apigw.get_rest_apis()["items"]]
    (first_mapping,) = [m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]]

    # The old path: chalice alone, from a clone without .chalice/deployed/.
    clone2 = clones["clone2"]
    generated = project / ".deploy" / STAGE / ".chalice"  # the stage's config, as deploy wrote it
    shutil.copy2(generated / "config.json", clone2 / ".chalice" / "config.json")
    for policy_file in generated.glob("policy-dev-*.json"):
        shutil.copy2(policy_file, clone2 / ".chalice" / policy_file.name)
    ctx = Context(stage=STAGE, project_dir=clone2, session=aws)
    deploy.run_chalice(ctx, "deploy", "--stage", STAGE)
    assert len(apigw.get_rest_apis()["items"]) == 2
    assert len(lam.list_event_source_mappings()["EventSourceMappings"]) == 2
    (clone2 / ".chalice" / "deployed" / "dev.json").unlink()
    code, out = _run(capsys, transcript, "status", *common(clones["clone3"]))
    assert "DUPLICATE      2 REST APIs" in out
    assert "DUPLICATE      2 SQS event source mappings" in out

    code, out = _run(capsys, transcript, "deploy", *common(clone2), *flags)
    assert code == 0, out
    assert "removed duplicate event source mapping" in out
    assert [m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]] == [
        first_mapping
    ]
    deployed = json.loads(
        (clone2 / ".deploy" / STAGE / ".chalice" / "deployed" / "dev.json").read_text()
    )
    (rest_api,) = [r for r in deployed["resources"] if r["resource_type"] == "rest_api"]
    assert rest_api["rest_api_id"] == first_api  # the oldest is kept and updated
    assert len(apigw.get_rest_apis()["items"]) == 2  # the other is reported, not deleted

    # A redeploy from clone 2 again creates nothing.
    code, out = _run(capsys, transcript, "deploy", *common(clone2), *flags)
    assert code == 0, out
    assert len(lam.list_event_source_mappings()["EventSourceMappings"]) == 1

    code, out = _run(capsys, transcript, "teardown", *common(clones["clone3"]), "--yes")
    assert code == 0, out
    assert "Nothing left of stage dev" in out
    left = _everything(aws)
    assert {kind: items for kind, items in left.items() if items} == {}
    with capsys.disabled():
        print("\n" + "\n".join(transcript))
