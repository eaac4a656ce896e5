"""The caller as the domain's access policy must name it, and the admins deploy refuses."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from localdev.aws.principals import check_admin, principal_arn, resolve_caller

ACCOUNT = "123456789012"
SSO_ROLE = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
SSO_PATH = "/aws-reserved/sso.amazonaws.com/eu-west-1/"


@pytest.mark.parametrize(
    ("caller", "principal"),
    [
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/jane@example.com",
            f"arn:aws:iam::{ACCOUNT}:role/Admin",
        ),
        (f"arn:aws:iam::{ACCOUNT}:user/jane", f"arn:aws:iam::{ACCOUNT}:user/jane"),
        (f"arn:aws:sts::{ACCOUNT}:user/moto", f"arn:aws:iam::{ACCOUNT}:user/moto"),
        (f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/R/s", f"arn:aws-cn:iam::{ACCOUNT}:role/R"),
    ],
)
def test_caller_becomes_a_resource_policy_principal(caller, principal):
    assert principal_arn(caller) == principal


def _iam():
    return boto3.client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_an_sso_caller_is_named_with_its_role_path():
    """GetCallerIdentity drops the path; GetRole returns the ARN a resource policy must name."""
    iam = _iam()
    role_arn = f"arn:aws:iam::{ACCOUNT}:role{SSO_PATH}{SSO_ROLE}"
    with Stubber(iam) as stubber:
        stubber.add_response(
            "get_role",
            {
                "Role": {
                    "Path": SSO_PATH,
                    "RoleName": SSO_ROLE,
                    "RoleId": "AROAEXAMPLEEXAMPLE123",
                    "Arn": role_arn,
                    "CreateDate": "2026-01-01T00:00:00Z",
                }
            },
            {"RoleName": SSO_ROLE},
        )
        principal, warning = resolve_caller(
            iam, f"arn:aws:sts::{ACCOUNT}:assumed-role/{SSO_ROLE}/jane@example.com"
        )
    assert principal == role_arn
    assert warning is None


def test_a_role_path_that_cannot_be_read_is_a_warning_naming_the_fix():
    iam = _iam()
    with Stubber(iam) as stubber:
        stubber.add_client_error("get_role", "AccessDenied", http_status_code=403)
        principal, warning = resolve_caller(
            iam, f"arn:aws:sts::{ACCOUNT}:assumed-role/{SSO_ROLE}/jane"
        )
    assert principal == f"arn:aws:iam::{ACCOUNT}:role/{SSO_ROLE}"
    assert "AccessDenied" in warning and "--admin-arn" in warning


def test_a_user_needs_no_lookup():
    iam = _iam()
    with Stubber(iam):  # no response queued: any call would fail the test
        assert resolve_caller(iam, f"arn:aws:iam::{ACCOUNT}:user/jane") == (
            f"arn:aws:iam::{ACCOUNT}:user/jane",
            None,
        )


@pytest.mark.parametrize(
    ("arn", "reason"),
    [
        ("*", "admits anyone"),
        (f"arn:aws:iam::{ACCOUNT}:root", "account root"),
        ("arn:aws:iam::210987654321:role/Admin", "belongs to account 210987654321"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/jane", "not an IAM role or user"),
        (f"arn:aws-cn:iam::{ACCOUNT}:role/Admin", "partition aws-cn"),
        (f"arn:aws:iam::{ACCOUNT}:group/Admins", "not a role or user"),
        ("Admin", "not an ARN"),
    ],
)
def test_broad_or_foreign_admins_are_refused(arn, reason):
    assert reason in check_admin(arn, ACCOUNT, "aws")


@pytest.mark.parametrize(
    "arn", ["*", f"arn:aws:iam::{ACCOUNT}:root", "arn:aws:iam::210987654321:role/Admin"]
)
def test_broad_admins_pass_only_when_allowed_explicitly(arn):
    assert check_admin(arn, ACCOUNT, "aws", allow_broad=True) is None


@pytest.mark.parametrize(
    "arn", [f"arn:aws:iam::{ACCOUNT}:role{SSO_PATH}{SSO_ROLE}", f"arn:aws:iam::{ACCOUNT}:user/j"]
)
def test_roles_with_paths_and_users_are_fit_admins(arn):
    assert check_admin(arn, ACCOUNT, "aws") is None
