"""The Lambda role grants exactly the issue's list: nothing more, nothing missing."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from cfnlint.decode import decode_str

from localdev.aws import chalice_config, policy
from localdev.aws.stack import TEMPLATE_PATH
from tests.deploy.conftest import PROJECT_ROOT
from tests.deploy.policy_rules import Expected, granted, violations

ACCOUNT, REGION, APP = "123456789012", "us-east-1", "image-label-search"
DOMAIN = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/{APP}-dev"
BUCKET = f"{APP}-dev-{ACCOUNT}-{REGION}"
FLAGS = ("detect_text", "detect_moderation_labels", "detect_faces")


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


@pytest.mark.parametrize(
    "flags",
    list(itertools.product([False, True], repeat=3)),
    ids=lambda f: "".join("01"[x] for x in f),
)
@pytest.mark.parametrize("domain_arn", [DOMAIN, None], ids=["domain", "no-domain"])
@pytest.mark.parametrize("upload_prefix", [None, "uploads/"], ids=["no-uploads", "uploads"])
def test_every_feature_combination_grants_exactly_the_list(flags, domain_arn, upload_prefix):
    options = dict(zip(FLAGS, flags, strict=True))
    document = policy.build_policy(
        _inputs(domain_arn=domain_arn, upload_prefix=upload_prefix, **options)
    )
    expected = Expected(
        ACCOUNT, REGION, APP, "dev", BUCKET, domain_arn, upload_prefix=upload_prefix, **options
    )
    assert violations(document, expected) == []
    rekognition = {a for a in granted(document) if a.startswith("rekognition:")}
    assert rekognition == {"rekognition:DetectLabels"} | {
        action for flag, action in policy.REKOGNITION_ACTIONS.items() if options[flag]
    }


def test_the_rules_catch_what_they_must():
    """The checker itself: a broader grant, a wildcard and a missing grant are all reported."""
    document = policy.build_policy(_inputs())
    loose = json.loads(json.dumps(document))
    loose["Statement"][2]["Resource"] = "arn:aws:s3:::*"
    loose["Statement"].append({"Sid": "X", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"})
    loose["Statement"] = [s for s in loose["Statement"] if s["Sid"] != "ConsumeUploadEvents"]
    problems = violations(loose, Expected(ACCOUNT, REGION, APP, "dev", BUCKET, DOMAIN))
    assert any("s3:GetObject granted on ['arn:aws:s3:::*']" in p for p in problems)
    assert any("wildcard action sqs:*" in p for p in problems)
    assert any("Resource * for ['sqs:*']" in p for p in problems)
    assert any(p.startswith("sqs:ReceiveMessage missing") for p in problems)


def _expected_from_file(document: dict, stage: str, view) -> Expected:
    """Reads account, region, bucket and domain back from the file's own ARNs."""
    resources = [r for s in document["Statement"] for r in policy_resources(s)]
    queue = next(r for r in resources if r.startswith("arn:aws:sqs:"))
    _, _, _, region, account, _ = queue.split(":", 5)
    bucket = next(r for r in resources if r.startswith("arn:aws:s3:::")).split(":::")[1]
    bucket = bucket.split("/")[0]
    domain = next((r[: -len("/*")] for r in resources if r.startswith("arn:aws:es:")), None)
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
    )


def policy_resources(statement: dict) -> list[str]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_checked_in_policy_files_grant_exactly_the_list(stage):
    config = chalice_config.load(PROJECT_ROOT)
    view = chalice_config.stage_view(config, stage)
    path = PROJECT_ROOT / ".chalice" / f"policy-{stage}.json"
    document = json.loads(path.read_text())
    expected = _expected_from_file(document, stage, view)
    assert re.fullmatch(r"\d{12}", expected.account)
    assert violations(document, expected) == []
    # The file is what deploy renders for those values, byte for byte.
    rendered = policy.build_policy(
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
        )
    )
    assert path.read_text() == policy.render(rendered)


def test_the_stack_role_carries_only_the_rendered_policy():
    template, errors = decode_str(TEMPLATE_PATH.read_text())
    assert errors == []
    resources = template["Resources"]
    role = resources["FunctionRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert role["Policies"] == [
        {"PolicyName": "least-privilege", "PolicyDocument": {"Ref": "FunctionPolicyDocument"}}
    ]
    assert "ManagedPolicyArns" not in role
    assert "PermissionsBoundary" not in role
    # No other policy resource attaches anything to the role.
    policy_types = {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"}
    assert not [name for name, r in resources.items() if r["Type"] in policy_types]


def test_policy_fits_a_stack_parameter():
    document = policy.build_policy(_inputs(upload_prefix="uploads/", **dict.fromkeys(FLAGS, True)))
    assert len(policy.compact(document)) < 4096
