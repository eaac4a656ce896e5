"""The CloudFormation stack of one stage (infra/template.yaml): create, update, read, delete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

from localdev.aws.progress import StackWatcher

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
NO_UPDATES = "No updates are to be performed"


class StackError(RuntimeError):
    """The stack could not reach the wanted state; the message names the failed resources."""


@dataclass(frozen=True)
class Waiting:
    """How often to poll CloudFormation (tests against moto use a short interval)."""

    delay_seconds: float = 15

    def watcher(self, cfn, say: Callable[[str], None]) -> StackWatcher:
        return StackWatcher(cfn, say, poll_seconds=self.delay_seconds)


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


# Stack tags that remember a stage's deploy choices, whichever clone deployed it.
API_AUTH_TAG, UPLOADS_TAG = "api-auth", "uploads"


def api_auth(stack: dict[str, Any] | None, configured: str | None) -> str:
    """How the stage's API was deployed, else how its config wants it, else iam."""
    return tags(stack).get(API_AUTH_TAG) or configured or "iam"


def tags(stack: dict[str, Any] | None) -> dict[str, str]:
    if not stack:
        return {}
    return {tag["Key"]: tag["Value"] for tag in stack.get("Tags", [])}


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
    watcher = waiting.watcher(cfn, say)
    existing = _settle(cfn, name, watcher, say)
    if existing is None:
        say(f"creating stack {name}")
        # DELETE, not ROLLBACK: a failed first creation leaves nothing behind to clean up and
        # the next deploy starts afresh instead of meeting a ROLLBACK_COMPLETE stack.
        stack_id = cfn.create_stack(**request, OnFailure="DELETE")["StackId"]
        _expect(cfn, name, stack_id, watcher.wait(stack_id), "CREATE_COMPLETE")
        return "created"
    try:
        updated = _operate(watcher, existing, lambda: _update(cfn, request, say))
    except ClientError as error:
        if NO_UPDATES in str(error):
            return "unchanged"
        raise
    _expect(cfn, name, existing["StackId"], updated, "UPDATE_COMPLETE")
    return "updated"


def _update(cfn, request: dict[str, Any], say: Callable[[str], None]) -> None:
    cfn.update_stack(**request)
    say(f"updating stack {request['StackName']}")


def template_parameters(body: str) -> set[str]:
    """The template's parameter names (a typo in a parameter key fails here, not in AWS)."""

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !Sub, ...) do not matter for the parameter names.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return set(yaml.load(body, Loader=Loader).get("Parameters", {}))


def delete(cfn, name: str, waiting: Waiting, say: Callable[[str], None]) -> bool:
    """Deletes the stack and waits; returns False when there was none.

    A stack in DELETE_FAILED (typically a bucket that was not empty) is deleted again.
    """
    watcher = waiting.watcher(cfn, say)
    stack = _current(cfn, name, watcher, say)
    if stack is None:
        return False
    if stack["StackStatus"] == "DELETE_FAILED":
        say(f"stack {name} is DELETE_FAILED ({failure_reasons(cfn, name)}); deleting it again")
    say(f"deleting stack {name}")
    settled = _operate(watcher, stack, lambda: cfn.delete_stack(StackName=name))
    if settled is not None and settled["StackStatus"] != "DELETE_COMPLETE":
        failed = failed_resources(cfn, name)
        raise StackError(
            f"stack {name} is {settled['StackStatus']}: {failure_reasons(cfn, name)}. Fix the "
            f"cause and run teardown again, or keep those resources: aws cloudformation "
            f"delete-stack --stack-name {name} --retain-resources {' '.join(failed)}"
        )
    return True


# What deploy does about a stack that a previous run left in a failed state.
RECREATE = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED")  # a first creation failed: nothing to keep
CONTINUE_ROLLBACK = "UPDATE_ROLLBACK_FAILED"
TEARDOWN_FIRST = "DELETE_FAILED"


def _settle(cfn, name: str, watcher: StackWatcher, say: Callable[[str], None]):
    """Waits out an operation in progress and repairs failed states; None means "create"."""
    stack = _current(cfn, name, watcher, say)
    if stack is None:
        return None
    status = stack["StackStatus"]
    if status in RECREATE:
        say(
            f"stack {name} is {status} after a failed creation "
            f"({failure_reasons(cfn, name)}); deleting it first"
        )
        settled = _operate(watcher, stack, lambda: cfn.delete_stack(StackName=name))
        if settled is not None and settled["StackStatus"] != "DELETE_COMPLETE":
            raise StackError(f"stack {name} could not be deleted: {failure_reasons(cfn, name)}")
        return None
    if status == CONTINUE_ROLLBACK:
        say(f"stack {name} is {status}; continuing the rollback first")
        settled = _operate(watcher, stack, lambda: cfn.continue_update_rollback(StackName=name))
        return _expect(cfn, name, stack["StackId"], settled, "UPDATE_ROLLBACK_COMPLETE")
    if status == TEARDOWN_FIRST:
        raise StackError(
            f"stack {name} is {status}: a teardown did not finish "
            f"({failure_reasons(cfn, name)}). Run the teardown again (it empties the bucket "
            "and retries the deletion), then deploy"
        )
    return stack


def _current(cfn, name: str, watcher: StackWatcher, say: Callable[[str], None]):
    """The stack once no operation is in progress on it; None when there is none (any more)."""
    stack = describe(cfn, name)
    if stack is not None and stack["StackStatus"].endswith("_IN_PROGRESS"):
        say(f"stack {name} is {stack['StackStatus']}; waiting for it to finish")
        watcher.mark_seen(stack["StackId"])
        stack = watcher.wait(stack["StackId"])
    if stack is None or stack["StackStatus"] == "DELETE_COMPLETE":
        return None
    return stack


def _operate(watcher: StackWatcher, stack: dict[str, Any], operation: Callable[[], None]):
    """Starts ``operation`` on ``stack`` and waits, printing only the events it causes."""
    watcher.mark_seen(stack["StackId"])
    operation()
    return watcher.wait(stack["StackId"])


def _expect(
    cfn, name: str, stack_id: str, stack: dict[str, Any] | None, wanted: str
) -> dict[str, Any] | None:
    status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
    if status != wanted:
        # By id: a creation that failed with OnFailure=DELETE has no stack under its name.
        raise StackError(
            f"stack {name} is {status}, not {wanted}: {failure_reasons(cfn, stack_id)}"
        )
    return stack


def failed_resources(cfn, name: str) -> list[str]:
    try:
        resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
    except ClientError:
        return []
    return [r["LogicalResourceId"] for r in resources if r["ResourceStatus"].endswith("_FAILED")]


def failure_reasons(cfn, name_or_id: str) -> str:
    try:
        events = cfn.describe_stack_events(StackName=name_or_id)["StackEvents"]
    except ClientError:
        return "no events"
    reasons = [
        f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
        for event in events
        if event["ResourceStatus"].endswith("_FAILED")
    ]
    return "; ".join(reasons[:5]) or "no failed resources reported"
