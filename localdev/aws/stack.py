"""The CloudFormation stack of one stage (infra/template.yaml): create, update, read, delete."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError, WaiterError

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
NO_UPDATES = "No updates are to be performed"
# A new OpenSearch domain takes 15-30 minutes; allow an hour before giving up.
MAX_WAIT_SECONDS = 3600


class StackError(RuntimeError):
    """The stack could not reach the wanted state; the message names the failed resources."""


@dataclass(frozen=True)
class Waiting:
    """Poll interval for the CloudFormation waiters (tests against moto use a short one)."""

    delay_seconds: int = 15

    def config(self) -> dict[str, int]:
        return {
            "Delay": self.delay_seconds,
            "MaxAttempts": max(1, MAX_WAIT_SECONDS // max(1, self.delay_seconds)),
        }


def stack_name(app_name: str, stage: str) -> str:
    return f"{app_name}-{stage}"


def describe(cfn, name: str) -> dict[str, Any] | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def outputs(stack: dict[str, Any] | None) -> dict[str, str]:
    if not stack:
        return {}
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}


def parameters(stack: dict[str, Any] | None) -> dict[str, str]:
    if not stack:
        return {}
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}


def deploy(
    cfn,
    name: str,
    params: dict[str, str],
    tags: dict[str, str],
    waiting: Waiting,
    say: Callable[[str], None],
    template_body: str | None = None,
) -> str:
    """Creates or updates the stack and waits; returns "created", "updated" or "unchanged"."""
    body = template_body if template_body is not None else TEMPLATE_PATH.read_text()
    request = {
        "StackName": name,
        "TemplateBody": body,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        "Capabilities": CAPABILITIES,
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    declared = template_parameters(body)
    if set(params) - declared:
        raise StackError(f"parameters not in the template: {sorted(set(params) - declared)}")
    existing = _settle(cfn, name, waiting, say)
    if existing is None:
        say(f"creating stack {name}")
        cfn.create_stack(**request, OnFailure="ROLLBACK")
        _wait(cfn, "stack_create_complete", name, waiting)
        return "created"
    try:
        cfn.update_stack(**request)
    except ClientError as error:
        if NO_UPDATES in str(error):
            return "unchanged"
        raise
    say(f"updating stack {name}")
    _wait(cfn, "stack_update_complete", name, waiting)
    return "updated"


def template_parameters(body: str) -> set[str]:
    """The template's parameter names (a typo in a parameter key fails here, not in AWS)."""

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !Sub, ...) do not matter for the parameter names.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return set(yaml.load(body, Loader=Loader).get("Parameters", {}))


def delete(cfn, name: str, waiting: Waiting, say: Callable[[str], None]) -> bool:
    """Deletes the stack and waits; returns False when there was none."""
    if _settle(cfn, name, waiting, say) is None:
        return False
    say(f"deleting stack {name}")
    cfn.delete_stack(StackName=name)
    _wait(cfn, "stack_delete_complete", name, waiting)
    return True


def _settle(cfn, name: str, waiting: Waiting, say: Callable[[str], None]):
    """Waits out an operation in progress; removes a stack whose creation rolled back."""
    stack = describe(cfn, name)
    if stack is None:
        return None
    status = stack["StackStatus"]
    if status.endswith("_IN_PROGRESS"):
        say(f"stack {name} is {status}; waiting for it to finish")
        waiter = {
            "CREATE": "stack_create_complete",
            "DELETE": "stack_delete_complete",
        }.get(status.split("_")[0], "stack_update_complete")
        # The state is re-read below, whatever the waiter concluded.
        with contextlib.suppress(WaiterError):
            cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig=waiting.config())
        stack = describe(cfn, name)
        if stack is None:
            return None
        status = stack["StackStatus"]
    if status == "DELETE_COMPLETE":
        return None
    if status == "ROLLBACK_COMPLETE":
        # A failed first creation leaves a stack that can only be deleted.
        say(f"stack {name} is {status} after a failed creation; deleting it first")
        cfn.delete_stack(StackName=name)
        _wait(cfn, "stack_delete_complete", name, waiting)
        return None
    if status.endswith("_FAILED"):
        raise StackError(f"stack {name} is {status}: {failure_reasons(cfn, name)}")
    return stack


def _wait(cfn, waiter_name: str, name: str, waiting: Waiting) -> None:
    try:
        cfn.get_waiter(waiter_name).wait(StackName=name, WaiterConfig=waiting.config())
    except WaiterError as error:
        raise StackError(f"stack {name}: {error}. {failure_reasons(cfn, name)}") from None


def failure_reasons(cfn, name: str) -> str:
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return "no events"
    reasons = [
        f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
        for event in events
        if event["ResourceStatus"].endswith("_FAILED")
    ]
    return "; ".join(reasons[:5]) or "no failed resources reported"
