"""Who, where and which stage: the AWS session, the project, the output stream."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.config import Config

from chalicelib.settings import Settings
from localdev.aws import chalice_config
from localdev.aws.discovery import StageNames
from localdev.aws.principals import resolve_caller
from localdev.aws.stack import Waiting, stack_name
from localdev.aws.workspace import stage_dir

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
    # Clients to use instead of the session's, by service name: the seam for botocore Stubbers
    # where moto does not model AWS's behaviour (an SSO caller, a stack in DELETE_FAILED).
    clients: dict[str, Any] = field(default_factory=dict)

    # -- output -----------------------------------------------------------------------------

    def say(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    def step(self, message: str) -> None:
        self.say(f"==> {message}")

    def detail(self, message: str) -> None:
        self.say(f"    {message}")

    # -- AWS --------------------------------------------------------------------------------

    def client(self, service: str):
        if service in self.clients:
            return self.clients[service]
        return self.session.client(service, region_name=self.region, config=CLIENT_CONFIG)

    @cached_property
    def region(self) -> str:
        region = self.session.region_name
        if not region:
            raise DeployError(
                "no AWS region: set AWS_DEFAULT_REGION (or region in your AWS profile), "
                "e.g. export AWS_DEFAULT_REGION=us-east-1"
            )
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

    @cached_property
    def caller(self) -> tuple[str, str | None]:
        """The caller as a resource-policy principal (role ARN with its path) and a warning."""
        return resolve_caller(self.client("iam"), self.identity["Arn"])

    @property
    def caller_principal_arn(self) -> str:
        return self.caller[0]

    # -- project ----------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return chalice_config.load(self.project_dir)

    def stage_view(self) -> chalice_config.StageView:
        return chalice_config.stage_view(self.config(), self.stage)

    def stage_settings(self, search_endpoint: str) -> Settings:
        """The stage's settings as its functions read them, in this region and with the
        stack's search endpoint (the stage's config may not hold it yet)."""
        return self.stage_view().settings(AWS_REGION=self.region, SEARCH_ENDPOINT=search_endpoint)

    @cached_property
    def app_name(self) -> str:
        return self.config()["app_name"]

    @property
    def stack_name(self) -> str:
        return stack_name(self.app_name, self.stage)

    @property
    def deploy_dir(self) -> Path:
        """Where deploy writes the stage's generated chalice project (localdev/aws/workspace.py)."""
        return stage_dir(self.project_dir, self.stage)

    @cached_property
    def names(self) -> StageNames:
        """The names AWS knows the stage's chalice resources by (read once: config and the
        caller's account and region do not change during a command)."""
        return StageNames(
            app_name=self.app_name,
            stage=self.stage,
            partition=self.partition,
            region=self.region,
            api_gateway_stage=self.stage_view().api_gateway_stage,
        )

    @property
    def resource_name(self) -> str:
        """Name of the API key and usage plan."""
        return f"{self.app_name}-{self.stage}"
