"""The functions' log groups: created (or adopted) by deploy, with retention; removed by teardown.

Lambda writes to ``/aws/lambda/<function>``. When the stack created these groups, a group that
already existed (Lambda makes one on a function's first run, e.g. after a plain
``chalice deploy``) failed the stack's creation, rolled it back, and failed the next deploy the
same way. Deploy now owns them directly: an existing group is adopted (its retention and tags
set), a missing one created, before chalice creates the functions. The role never needs
``logs:CreateLogGroup``.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class LogGroupState:
    name: str
    exists: bool
    retention_days: int | None = None


def describe(logs, name: str) -> LogGroupState:
    groups = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    for group in groups:
        if group["logGroupName"] == name:
            return LogGroupState(name, True, group.get("retentionInDays"))
    return LogGroupState(name, False)


def ensure(logs, name: str, retention_days: int, tags: dict[str, str]) -> str:
    """Creates or adopts the group; returns "created", "adopted" or "unchanged"."""
    state = describe(logs, name)
    outcome = "unchanged"
    if not state.exists:
        try:
            logs.create_log_group(logGroupName=name, tags=tags)
            outcome = "created"
        except ClientError as error:
            # Lambda may create it between our look and our create.
            if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                raise
            outcome = "adopted"
    elif state.retention_days != retention_days:
        outcome = "adopted"
    if state.retention_days != retention_days:
        logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
    return outcome


def delete(logs, name: str) -> bool:
    try:
        logs.delete_log_group(logGroupName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True
