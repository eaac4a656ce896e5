"""infra/template.yaml: cfn-lint clean, and the properties the issue asks for are there.

moto's CloudFormation skips AWS::OpenSearchService::Domain, AWS::SQS::QueuePolicy and
AWS::S3::BucketPolicy and applies only BucketEncryption and Tags of AWS::S3::Bucket, so what it
cannot create is checked here, on the template itself.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

from localdev.aws.stack import TEMPLATE_PATH, template_parameters

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


@pytest.fixture(scope="module")
def template():
    parsed, errors = decode_str(TEMPLATE_PATH.read_text())
    assert errors == []
    return parsed


def test_cfn_lint_passes_with_informational_checks():
    result = subprocess.run(
        [
            str(CFN_LINT),
            "--include-checks",
            "I",
            "--regions",
            "us-east-1",
            "eu-west-1",
            "--",
            str(TEMPLATE_PATH),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_cfn_lint_rejects_a_broken_template(tmp_path):
    """The lint step can fail: a bucket with an invalid property is reported."""
    broken = TEMPLATE_PATH.read_text().replace("BucketName: !Ref BucketName", "BucketNam: x", 1)
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    result = subprocess.run(
        [str(CFN_LINT), "--", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "BucketNam" in result.stdout


def test_bucket_is_private_encrypted_and_notifies_the_queue(template):
    bucket = template["Resources"]["ImageBucket"]
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["BucketName"] == {"Ref": "BucketName"}
    assert props["VersioningConfiguration"] == {
        "Status": {"Fn::If": ["Versioned", "Enabled", "Suspended"]}
    }
    queue_arn = {"Fn::GetAtt": ["UploadQueue", "Arn"]}
    assert props["NotificationConfiguration"]["QueueConfigurations"] == [
        {"Event": "s3:ObjectCreated:*", "Queue": queue_arn},
        {"Event": "s3:ObjectRemoved:*", "Queue": queue_arn},
    ]
    # S3 checks the destination's policy when the notification is put.
    assert bucket["DependsOn"] == "UploadQueuePolicy"
    assert bucket["DeletionPolicy"] == "Delete"


def test_queue_policy_admits_only_this_bucket(template):
    queue_policy = template["Resources"]["UploadQueuePolicy"]["Properties"]
    assert queue_policy["Queues"] == [{"Ref": "UploadQueue"}]
    allow, deny = queue_policy["PolicyDocument"]["Statement"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == {"Fn::GetAtt": ["UploadQueue", "Arn"]}
    assert allow["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}"}},
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    }
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_queue_visibility_redrive_and_dead_letter_retention(template):
    resources, params = template["Resources"], template["Parameters"]
    queue = resources["UploadQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == {"Ref": "QueueVisibilityTimeout"}
    # 6 x chalice's 60 s function timeout (config.json) at the default.
    assert params["QueueVisibilityTimeout"]["Default"] >= 6 * 60
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    assert params["MaxReceiveCount"]["Default"] == 5
    dlq = resources["DeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True


def test_domain_defaults_encryption_and_access_policy(template):
    domain = template["Resources"]["SearchDomain"]
    params = template["Parameters"]
    assert domain["Type"] == "AWS::OpenSearchService::Domain"
    assert domain["Condition"] == "CreateDomain"
    assert template["Conditions"]["CreateDomain"] == {
        "Fn::Equals": [{"Ref": "ExistingSearchEndpoint"}, ""]
    }
    props = domain["Properties"]
    assert props["ClusterConfig"]["InstanceType"] == {"Ref": "SearchInstanceType"}
    assert params["SearchInstanceType"]["Default"] == "t3.small.search"
    assert params["SearchInstanceCount"]["Default"] == 1
    assert props["EBSOptions"] == {
        "EBSEnabled": True,
        "VolumeType": "gp3",
        "VolumeSize": {"Ref": "SearchVolumeSize"},
    }
    assert params["SearchVolumeSize"]["Default"] == 10
    assert props["EncryptionAtRestOptions"] == {"Enabled": True}
    assert props["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert props["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert props["DomainEndpointOptions"]["TLSSecurityPolicy"].startswith("Policy-Min-TLS-1-2")
    # Admins only; no policy without admins. The function roles are admitted by their identity
    # policies alone (tests/deploy/test_effective_access.py evaluates both together).
    condition, with_admins, without = props["AccessPolicies"]["Fn::If"]
    assert (condition, without) == ("HasAdmins", {"Ref": "AWS::NoValue"})
    (statement,) = with_admins["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "es:ESHttp*"
    assert statement["Principal"] == {"AWS": {"Fn::Split": [",", {"Ref": "AdminPrincipalArns"}]}}
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:es:${AWS::Region}:${AWS::AccountId}"
        ":domain/${SearchDomainName}/*"
    }


def test_the_only_log_group_of_the_stack_is_the_domains(template):
    """The functions' log groups are deploy's (localdev/aws/log_groups.py says why)."""
    resources = template["Resources"]
    names = {
        r["Properties"]["LogGroupName"]["Fn::Sub"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    assert names == {"/aws/opensearch/${SearchDomainName}/application"}


def test_outputs_and_parameter_names(template):
    assert {
        "BucketName",
        "QueueArn",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "SearchEndpoint",
        "IndexerRoleArn",
        "ApiRoleArn",
    } <= set(template["Outputs"])
    assert template_parameters(TEMPLATE_PATH.read_text()) == set(template["Parameters"])
