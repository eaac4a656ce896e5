"""``teardown``: removes everything ``deploy`` created for a stage, then checks that it is gone.

What to remove is found in AWS (localdev/aws/discovery.py), not read from chalice's git-ignored
state file, so a teardown from any clone removes every copy, duplicates included. Order
matters: the API key first (it names the REST API's stage), then the event source mappings,
functions and REST APIs (no consumer left to index the deletions), then the bucket's every
version and delete marker (a CloudFormation bucket must be empty to be deleted), then the stack
(domain, queues, bucket, role; a stack left in DELETE_FAILED is deleted again), then the log
groups. An existing cluster that the stack did not create keeps its data unless
``--delete-index`` is given.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from localdev.aws import api_keys, discovery, event_source, log_groups, stack, workspace
from localdev.aws.context import Context, DeployError


@dataclass
class TeardownResult:
    deleted: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)


def confirm(ctx: Context, owns_domain: bool) -> None:
    domain = " and the search domain with its index" if owns_domain else ""
    ctx.say(
        f"This deletes stage {ctx.stage} in account {ctx.account} ({ctx.region}): the API, the "
        f"functions, every image in the bucket, the queues{domain}."
    )
    if not sys.stdin.isatty():
        raise DeployError(
            f"not a terminal: pass --yes to confirm the teardown (make teardown STAGE={ctx.stage} "
            "YES=1)"
        )
    answer = input(f"Type the stage name ({ctx.stage}) to confirm: ").strip()
    if answer != ctx.stage:
        raise DeployError("cancelled")


def teardown(ctx: Context, assume_yes: bool = False, delete_index: bool = False) -> TeardownResult:
    cfn = ctx.client("cloudformation")
    outputs = stack.outputs(stack.describe(cfn, ctx.stack_name))
    if not assume_yes:
        # Only a stack-created domain reports its engine version as an output.
        confirm(ctx, owns_domain="SearchEngineVersion" in outputs)
    result = TeardownResult()
    ctx.step(f"Tearing down stage {ctx.stage} (account {ctx.account}, {ctx.region})")

    removed = api_keys.delete(ctx.client("apigateway"), ctx.resource_name)
    for item in removed:
        ctx.detail(f"deleted {item}")
    result.deleted.extend(removed)

    _delete_app(ctx, outputs.get("QueueArn"), result)

    if delete_index and outputs.get("SearchEndpoint"):
        _delete_index(ctx, outputs["SearchEndpoint"], result)

    bucket = outputs.get("BucketName")
    if bucket:
        count = empty_bucket(ctx.client("s3"), bucket)
        ctx.step(f"Emptied bucket {bucket}: {count} object versions and delete markers")

    ctx.step(f"Stack {ctx.stack_name}")
    if stack.delete(cfn, ctx.stack_name, ctx.waiting, ctx.detail):
        result.deleted.append(f"stack {ctx.stack_name}")
        ctx.detail("deleted")
    else:
        ctx.detail("no stack")

    logs = ctx.client("logs")
    for name in _function_names(ctx):
        if log_groups.delete(logs, f"/aws/lambda/{name}"):
            ctx.detail(f"deleted log group /aws/lambda/{name}")
            result.deleted.append(f"log group /aws/lambda/{name}")
    if workspace.remove(ctx.project_dir, ctx.stage):
        ctx.detail(f"removed {workspace.stage_dir(ctx.project_dir, ctx.stage)}")

    result.leftovers = leftovers(ctx, outputs)
    if result.leftovers:
        ctx.step("Still present (delete by hand or run teardown again):")
        for item in result.leftovers:
            ctx.detail(item)
    else:
        ctx.step(f"Nothing left of stage {ctx.stage}")
    return result


def empty_bucket(s3, bucket: str) -> int:
    """Deletes every object version and delete marker; returns how many."""
    deleted = 0
    paginator = s3.get_paginator("list_object_versions")
    try:
        for page in paginator.paginate(Bucket=bucket):
            entries = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(entries), 1000):
                batch = entries[start : start + 1000]
                response = s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
                )
                if response.get("Errors"):
                    raise DeployError(f"could not empty {bucket}: {response['Errors'][:3]}")
                deleted += len(batch)
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchBucket":
            return deleted
        raise
    return deleted


def _delete_app(ctx: Context, queue_arn: str | None, result: TeardownResult) -> None:
    """The stage's event source mappings, functions and REST APIs, every copy found in AWS."""
    lambda_client, apigateway = ctx.client("lambda"), ctx.client("apigateway")
    names = ctx.names
    found = discovery.discover(lambda_client, apigateway, names, queue_arn=None)
    ctx.step("The app: event source mappings, functions, REST APIs")
    mappings = {m["UUID"] for m in found.mappings}
    if queue_arn:
        # Also a mapping of the queue to a function of another name (a renamed handler).
        paginator = lambda_client.get_paginator("list_event_source_mappings")
        for page in paginator.paginate(EventSourceArn=queue_arn):
            mappings.update(m["UUID"] for m in page.get("EventSourceMappings", []))
    for uuid in sorted(mappings):
        lambda_client.delete_event_source_mapping(UUID=uuid)
        _deleted(ctx, result, f"event source mapping {uuid}")
    for arn in found.functions.values():
        lambda_client.delete_function(FunctionName=arn)
        _deleted(ctx, result, f"function {event_source.function_name(arn)}")
    for rest_api_id in found.rest_api_ids:
        apigateway.delete_rest_api(restApiId=rest_api_id)
        _deleted(ctx, result, f"REST API {rest_api_id}")
    if found.empty and not mappings:
        ctx.detail("nothing deployed")


def _deleted(ctx: Context, result: TeardownResult, what: str) -> None:
    ctx.detail(f"deleted {what}")
    result.deleted.append(what)


def _delete_index(ctx: Context, endpoint: str, result: TeardownResult) -> None:
    from chalicelib.search_client import create_search_client

    settings = ctx.stage_settings(endpoint)
    client = create_search_client(settings, session=ctx.session)
    alias = settings.index_alias
    client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
    client.indices.delete_template(name=alias, ignore=[404])
    ctx.step(f"Deleted indices {alias}-v* and template {alias} on {endpoint}")
    result.deleted.append(f"index {alias}")


def leftovers(ctx: Context, outputs: dict[str, str]) -> list[str]:
    """Asks AWS for each thing deploy creates; names whatever still exists."""
    found = []
    if stack.describe(ctx.client("cloudformation"), ctx.stack_name):
        found.append(f"stack {ctx.stack_name}")
    s3 = ctx.client("s3")
    bucket = outputs.get("BucketName")
    if bucket and _exists(lambda: s3.head_bucket(Bucket=bucket)):
        found.append(f"bucket {bucket}")
    sqs = ctx.client("sqs")
    for arn in (outputs.get("QueueArn"), outputs.get("DeadLetterQueueArn")):
        if arn:
            name = arn.rsplit(":", 1)[1]
            if _exists(lambda name=name: sqs.get_queue_url(QueueName=name)):
                found.append(f"queue {name}")
    iam = ctx.client("iam")
    # One role per function; FunctionRoleName is the shared role of stacks deployed before.
    for key in ("IndexerRoleName", "ApiRoleName", "FunctionRoleName"):
        role = outputs.get(key)
        if role and _exists(lambda role=role: iam.get_role(RoleName=role)):
            found.append(f"role {role}")
    lambda_client = ctx.client("lambda")
    for name in _function_names(ctx):
        if _exists(lambda name=name: lambda_client.get_function(FunctionName=name)):
            found.append(f"function {name}")
    found_app = discovery.discover(lambda_client, ctx.client("apigateway"), ctx.names, None)
    found += [f"REST API {rest_api_id}" for rest_api_id in found_app.rest_api_ids]
    found += [f"event source mapping {m['UUID']}" for m in found_app.mappings]
    if api_keys.find_keys(ctx.client("apigateway"), ctx.resource_name):
        found.append(f"API key {ctx.resource_name}")
    if api_keys.find_plans(ctx.client("apigateway"), ctx.resource_name):
        found.append(f"usage plan {ctx.resource_name}")
    logs = ctx.client("logs")
    for name in _function_names(ctx):
        group = f"/aws/lambda/{name}"
        groups = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
        if any(g["logGroupName"] == group for g in groups):
            found.append(f"log group {group}")
    return found


def _function_names(ctx: Context) -> list[str]:
    from localdev.aws.policy import function_names

    return function_names(ctx.app_name, ctx.stage)


def _exists(call) -> bool:
    try:
        call()
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in (
            "404",
            "NoSuchBucket",
            "NoSuchEntity",
            "ResourceNotFoundException",
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
        ):
            return False
        raise
    return True
