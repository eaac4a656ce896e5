"""Each function's role grants exactly that function's list: nothing more, nothing missing."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from cfnlint.decode import decode_str
from chalice.config import Config

from localdev.aws import chalice_config, policy
from localdev.aws.stack import TEMPLATE_PATH
from tests.deploy.conftest import PROJECT_ROOT
from tests.deploy.policy_rules import API, INDEXER, Expected, granted, violations

ACCOUNT, REGION, APP = "123456789012", "us-east-1", "image-label-search"
DOMAIN = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/{APP}-dev"
BUCKET = f"{APP}-dev-{ACCOUNT}-{REGION}"
FLAGS = ("detect_text", "detect_moderation_labels", "detect_faces")
# The template's role for each function, and the parameter that carries its policy.
ROLES = {INDEXER: ("IndexerRole", "IndexerPolicyDocument"), API: ("ApiRole", "ApiPolicyDocument")}


def _inputs(**overrides) -> policy.PolicyInputs:
    values = dict(
        partition="aws",
        region=REGION,
        account=ACCOUNT,
        app_name=APP,
        stage="dev",
        bucket=BUCKET,
        queue_name=f"{APP}-dev-uploads",
        domain_arn=DOMAIN,
    )
    values.update(overrides)
    return policy.PolicyInputs(**values)


def test_the_two_functions_are_the_chalice_names():
    assert policy.FUNCTIONS == (API, INDEXER)
    assert policy.function_names(APP, "dev") == [f"{APP}-dev", f"{APP}-dev-index_images"]


@pytest.mark.parametrize(
    "flags",
    list(itertools.product([False, True], repeat=3)),
    ids=lambda f: "".join("01"[x] for x in f),
)
@pytest.mark.parametrize("domain_arn", [DOMAIN, None], ids=["domain", "no-domain"])
@pytest.mark.parametrize("upload_prefix", [None, "uploads/"], ids=["no-uploads", "uploads"])
@pytest.mark.parametrize("alias", ["imagerepository", "photos"])
def test_every_feature_combination_grants_exactly_the_lists(
    flags, domain_arn, upload_prefix, alias
):
    options = dict(zip(FLAGS, flags, strict=True))
    documents = policy.build_policies(
        _inputs(domain_arn=domain_arn, upload_prefix=upload_prefix, index_alias=alias, **options)
    )
    assert set(documents) == {API, INDEXER}
    expected = Expected(
        ACCOUNT,
        REGION,
        APP,
        "dev",
        BUCKET,
        domain_arn,
        upload_prefix=upload_prefix,
        alias=alias,
        **options,
    )
    for function, document in documents.items():
        assert violations(document, expected, function) == [], function
    rekognition = {a for a in granted(documents[INDEXER]) if a.startswith("rekognition:")}
    assert rekognition == {"rekognition:DetectLabels"} | {
        action for flag, action in policy.REKOGNITION_ACTIONS.items() if options[flag]
    }


def test_the_api_role_can_neither_consume_label_nor_write():
    document = policy.build_api_policy(
        _inputs(upload_prefix="uploads/", **dict.fromkeys(FLAGS, True))
    )
    actions = set(granted(document))
    assert not {a for a in actions if a.startswith(("sqs:", "rekognition:"))}
    assert not actions & {"es:ESHttpPut", "es:ESHttpDelete", "es:ESHttpPatch"}
    posts = granted(document)["es:ESHttpPost"]
    assert {p.rsplit("/", 1)[1] for p in posts} == {
        "_search",
        "_count",
        "_mget",
        "_msearch",
        "_termvectors",
    }
    # ... and the indexer cannot presign uploads.
    indexer = policy.build_indexer_policy(_inputs(upload_prefix="uploads/"))
    assert "s3:PutObject" not in granted(indexer)


def test_the_rules_catch_what_they_must():
    """The checker itself: a broader grant, a wildcard and a missing grant are all reported."""
    expected = Expected(ACCOUNT, REGION, APP, "dev", BUCKET, DOMAIN)
    loose = json.loads(json.dumps(policy.build_indexer_policy(_inputs())))
    loose["Statement"][2]["Resource"] = "arn:aws:s3:::*"
    loose["Statement"].append({"Sid": "X", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"})
    loose["Statement"] = [s for s in loose["Statement"] if s["Sid"] != "ConsumeUploadEvents"]
    problems = violations(loose, expected, INDEXER)
    assert any("s3:GetObject granted on ['arn:aws:s3:::*']" in p for p in problems)
    assert any("wildcard action sqs:*" in p for p in problems)
    assert any("Resource * for ['sqs:*']" in p for p in problems)
    assert any(p.startswith("sqs:ReceiveMessage missing") for p in problems)
    # The indexer's document is not the API's: queue, Rekognition and index writes are extra.
    problems = violations(policy.build_indexer_policy(_inputs()), expected, API)
    assert "sqs:ReceiveMessage is not on the list" in problems
    assert "rekognition:DetectLabels is not on the list" in problems
    assert "es:ESHttpPut is not on the list" in problems
    assert any(p.startswith("es:ESHttpPost granted on") and "_bulk" in p for p in problems)
    # A whole-domain grant, which the old shared role had, is reported.
    broad = json.loads(json.dumps(policy.build_api_policy(_inputs())))
    broad["Statement"].append(
        {"Sid": "Y", "Effect": "Allow", "Action": ["es:ESHttpDelete"], "Resource": f"{DOMAIN}/*"}
    )
    assert "es:ESHttpDelete is not on the list" in violations(broad, expected, API)


def _expected_from_file(document: dict, stage: str, view) -> Expected:
    """Reads account, region, bucket, domain and alias back from the file's own ARNs."""
    resources = [r for s in document["Statement"] for r in _as_list(s["Resource"])]
    logs = next(r for r in resources if r.startswith("arn:aws:logs:"))
    _, _, _, region, account, _ = logs.split(":", 5)
    bucket = next(r for r in resources if r.startswith("arn:aws:s3:::")).split(":::")[1]
    bucket = bucket.split("/")[0]
    search = [r for r in resources if r.startswith("arn:aws:es:")]
    domain = "/".join(search[0].split("/", 2)[:2]) if search else None
    alias = view.environment.get("INDEX_ALIAS") or "imagerepository"
    upload = next((s for s in document["Statement"] if "s3:PutObject" in s["Action"]), None)
    return Expected(
        account=account,
        region=region,
        app=view.app_name,
        stage=stage,
        bucket=bucket,
        domain_arn=domain,
        detect_text=view.flag("DETECT_TEXT"),
        detect_moderation_labels=view.flag("DETECT_MODERATION_LABELS"),
        detect_faces=view.flag("DETECT_FACES"),
        upload_prefix=(view.environment.get("UPLOAD_PREFIX") or "uploads/") if upload else None,
        alias=alias,
    )


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("function", [API, INDEXER])
def test_checked_in_policy_files_grant_exactly_the_list(stage, function):
    config = chalice_config.load(PROJECT_ROOT)
    view = chalice_config.stage_view(config, stage)
    path = PROJECT_ROOT / ".chalice" / f"policy-{stage}-{function}.json"
    document = json.loads(path.read_text())
    expected = _expected_from_file(document, stage, view)
    assert re.fullmatch(r"\d{12}", expected.account)
    assert violations(document, expected, function) == []
    # The file is what deploy renders for those values, byte for byte.
    rendered = policy.build_policies(
        _inputs(
            region=expected.region,
            account=expected.account,
            stage=stage,
            bucket=expected.bucket,
            queue_name=f"{APP}-{stage}-uploads",
            domain_arn=expected.domain_arn,
            detect_text=expected.detect_text,
            detect_moderation_labels=expected.detect_moderation_labels,
            detect_faces=expected.detect_faces,
            upload_prefix=expected.upload_prefix,
            index_alias=expected.alias,
        )
    )[function]
    assert path.read_text() == policy.render(rendered)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_committed_config_names_one_policy_file_per_function(stage):
    """As chalice resolves it (per-function settings first): no stage-wide policy or role."""
    config = chalice_config.load(PROJECT_ROOT)
    files = set()
    for function in policy.FUNCTIONS:
        resolved = Config(chalice_stage=stage, function_name=function, config_from_disk=config)
        assert resolved.iam_policy_file == policy.policy_file_name(stage, function)
        assert (PROJECT_ROOT / ".chalice" / resolved.iam_policy_file).is_file()
        files.add(resolved.iam_policy_file)
    assert len(files) == 2
    stage_config = config["stages"][stage]
    assert not {"iam_policy_file", "iam_role_arn", "manage_iam_role"} & set(stage_config)
    assert not list((PROJECT_ROOT / ".chalice").glob(f"policy-{stage}.json"))


def test_each_stack_role_carries_only_its_functions_policy():
    template, errors = decode_str(TEMPLATE_PATH.read_text())
    assert errors == []
    resources = template["Resources"]
    roles = {name: r for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {"IndexerRole", "ApiRole"}
    for role_name, parameter in ROLES.values():
        role = roles[role_name]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
        assert role["Policies"] == [
            {"PolicyName": "least-privilege", "PolicyDocument": {"Ref": parameter}}
        ]
        assert "ManagedPolicyArns" not in role
        assert "PermissionsBoundary" not in role
        assert template["Parameters"][parameter]["MaxLength"] == 4096
    names = {roles[name]["Properties"]["RoleName"]["Fn::Sub"] for name, _ in ROLES.values()}
    assert names == {"${AppName}-${Stage}-indexer", "${AppName}-${Stage}-api"}
    # No other policy resource attaches anything to the roles.
    policy_types = {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"}
    assert not [name for name, r in resources.items() if r["Type"] in policy_types]
    outputs = template["Outputs"]
    assert outputs["IndexerRoleArn"]["Value"] == {"Fn::GetAtt": ["IndexerRole", "Arn"]}
    assert outputs["ApiRoleArn"]["Value"] == {"Fn::GetAtt": ["ApiRole", "Arn"]}
    assert outputs["IndexerRoleName"]["Value"] == {"Ref": "IndexerRole"}
    assert outputs["ApiRoleName"]["Value"] == {"Ref": "ApiRole"}
    assert (
        "FunctionRoleArn" not in outputs and "FunctionPolicyDocument" not in template["Parameters"]
    )


def test_policies_fit_a_stack_parameter_with_the_longest_names():
    """CloudFormation parameters are limited to 4096 bytes: the template's longest names."""
    app, stage = "a" * 31, "s" * 16  # the template's AppName and Stage patterns
    inputs = _inputs(
        app_name=app,
        stage=stage,
        bucket="b" * 63,
        queue_name=f"{app}-{stage}-uploads",
        domain_arn=f"arn:aws-us-gov:es:us-gov-west-1:{ACCOUNT}:domain/{'d' * 28}",
        partition="aws-us-gov",
        region="us-gov-west-1",
        upload_prefix="u" * 64 + "/",
        index_alias="i" * 100,
        **dict.fromkeys(FLAGS, True),
    )
    for function, document in policy.build_policies(inputs).items():
        assert len(policy.compact(document).encode()) < 4096, function


@pytest.mark.parametrize("quota", [False, True], ids=["no-quota", "quota"])
def test_a_rekognition_quota_adds_sending_back_to_the_upload_queue_only(quota):
    documents = policy.build_policies(_inputs(redelivers_throttled=quota))
    expected = Expected(ACCOUNT, REGION, APP, "dev", BUCKET, DOMAIN, redelivers_throttled=quota)
    for function, document in documents.items():
        assert violations(document, expected, function) == [], function
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{APP}-dev-uploads"
    sends = {
        action: resources
        for action, resources in granted(documents[INDEXER]).items()
        if action in ("sqs:SendMessage", "sqs:GetQueueUrl")
    }
    assert sends == ({"sqs:SendMessage": {queue}, "sqs:GetQueueUrl": {queue}} if quota else {})
