"""Principals as resource policies expect them: the caller's role ARN with its path.

A resource policy (the search domain's access policy) names IAM roles and users, never STS
sessions. ``sts:GetCallerIdentity`` answers ``arn:aws:sts::1:assumed-role/Name/session``, which
has lost the role's path, and the path is part of the role's ARN: IAM Identity Center (SSO)
roles live under ``/aws-reserved/sso.amazonaws.com/<region>/``, so a policy that names
``role/AWSReservedSSO_Admin_abc`` without the path admits nobody and locks the user out of their
own domain. ``iam:GetRole`` on the role's name returns the ARN with the path.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError


class PrincipalError(ValueError):
    """An ARN that cannot be used as an admin of the domain; the message says why and what to do."""


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, arn: str) -> Arn:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise PrincipalError(f"not an ARN: {arn!r}")
        return cls(*parts[1:])


def session_role_name(caller_arn: str) -> str | None:
    """The role's name when the caller is an assumed-role session, else None."""
    arn = Arn.parse(caller_arn)
    if arn.service == "sts" and arn.resource.startswith("assumed-role/"):
        return arn.resource.split("/")[1]
    return None


def principal_arn(caller_arn: str, role_arn: str | None = None) -> str:
    """The caller as a resource-policy principal.

    ``role_arn`` is the session's role as ``iam:GetRole`` reports it (with its path); without it
    the role is named at the root path, which is right only for roles created without a path.
    """
    arn = Arn.parse(caller_arn)
    if arn.service == "sts" and arn.resource.startswith("assumed-role/"):
        if role_arn:
            return role_arn
        role = arn.resource.split("/")[1]
        return f"arn:{arn.partition}:iam::{arn.account}:role/{role}"
    if arn.service == "sts" and arn.resource.startswith("user/"):
        # moto (and federated users of old) report users under sts.
        return f"arn:{arn.partition}:iam::{arn.account}:{arn.resource}"
    return caller_arn


def resolve_caller(iam, caller_arn: str) -> tuple[str, str | None]:
    """(principal ARN, warning or None): reads the role's path with ``iam:GetRole``."""
    role = session_role_name(caller_arn)
    if role is None:
        return principal_arn(caller_arn), None
    try:
        role_arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    except ClientError as error:
        guess = principal_arn(caller_arn)
        return guess, (
            f"could not read the path of role {role} (iam:GetRole: "
            f"{error.response['Error']['Code']}); assuming {guess}. If the role has a path "
            "(SSO roles do), pass --admin-arn with its full ARN"
        )
    return role_arn, None


def check_admin(arn: str, account: str, partition: str, allow_broad: bool = False) -> str | None:
    """None when ``arn`` is a fit admin principal, else the reason it is refused.

    Refused unless ``allow_broad``: ``*`` (anyone), the account root (every principal of the
    account that its own IAM policies allow), ARNs of other services or partitions.
    """
    if arn == "*":
        return None if allow_broad else "'*' admits anyone on the internet"
    try:
        parsed = Arn.parse(arn)
    except PrincipalError as error:
        return str(error)
    if parsed.partition != partition:
        return f"{arn} is in partition {parsed.partition}, the stage is in {partition}"
    if parsed.service != "iam":
        return f"{arn} is not an IAM role or user ARN (arn:{partition}:iam::<account>:role/...)"
    if parsed.resource == "root":
        if allow_broad:
            return None
        return f"{arn} is an account root: it admits every principal of account {parsed.account}"
    if not parsed.resource.startswith(("role/", "user/")):
        return f"{arn} is not a role or user"
    if parsed.account != account and not allow_broad:
        return f"{arn} belongs to account {parsed.account}, not {account}"
    return None
