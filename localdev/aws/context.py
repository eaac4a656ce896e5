"""Who, where and which stage: the AWS session, the project, the output stream."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.config import Config

from localdev.aws import chalice_config
from localdev.aws.stack import Waiting, stack_name

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})


class DeployError(RuntimeError):
    """A step failed in a way the user can act on; the message says how."""


@dataclass
class Context:
    stage: str
    project_dir: Path = PROJECT_ROOT
    session: boto3.Session = field(default_factory=boto3.Session)
    out: TextIO = field(default_factory=lambda: sys.stdout)
    waiting: Waiting = field(default_factory=Waiting)

    # -- output -----------------------------------------------------------------------------

    def say(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    def step(self, message: str) -> None:
        self.say(f"==> {message}")

    def detail(self, message: str) -> None:
        self.say(f"    {message}")

    # -- AWS --------------------------------------------------------------------------------

    def client(self, service: str):
        return self.session.client(service, region_name=self.region, config=CLIENT_CONFIG)

    @cached_property
    def region(self) -> str:
        region = self.session.region_name
        if not region:
            raise DeployError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or a profile")
        return region

    @cached_property
    def identity(self) -> dict[str, Any]:
        return self.client("sts").get_caller_identity()

    @property
    def account(self) -> str:
        return self.identity["Account"]

    @property
    def partition(self) -> str:
        return self.identity["Arn"].split(":")[1]

    @property
    def caller_principal_arn(self) -> str:
        """The caller as a principal that resource policies accept (a role, not its session)."""
        return principal_arn(self.identity["Arn"])

    # -- project ----------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return chalice_config.load(self.project_dir)

    def stage_view(self) -> chalice_config.StageView:
        return chalice_config.stage_view(self.config(), self.stage)

    @cached_property
    def app_name(self) -> str:
        return self.config()["app_name"]

    @property
    def stack_name(self) -> str:
        return stack_name(self.app_name, self.stage)

    @property
    def resource_name(self) -> str:
        """Name of the API key and usage plan."""
        return f"{self.app_name}-{self.stage}"


def principal_arn(caller_arn: str) -> str:
    """``arn:aws:sts::1:assumed-role/Admin/me`` -> ``arn:aws:iam::1:role/Admin``.

    Resource policies name roles, never their sessions. (A role with a path loses the path in
    its session ARN; pass such a role with --admin-arn.)
    """
    partition, service, account, resource = _split_arn(caller_arn)
    if service == "sts" and resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        return f"arn:{partition}:iam::{account}:role/{role}"
    if service == "sts" and resource.startswith("user/"):
        return f"arn:{partition}:iam::{account}:{resource}"
    return caller_arn


def _split_arn(arn: str) -> tuple[str, str, str, str]:
    parts = arn.split(":", 5)
    if len(parts) != 6:
        raise DeployError(f"not an ARN: {arn}")
    return parts[1], parts[2], parts[4], parts[5]
