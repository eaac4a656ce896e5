"""``plan``: what a deploy would create or change, read from AWS, changing nothing."""

from __future__ import annotations

from localdev.aws import api_keys, discovery, log_groups, policy, stack
from localdev.aws.context import Context
from localdev.aws.deploy_plan import Plan

# Parameters whose values are long documents: say that they change, not how.
DOCUMENT_PARAMETERS = {"IndexerPolicyDocument", "ApiPolicyDocument"}


def describe(ctx: Context, decided: Plan) -> list[str]:
    existing = decided.stack
    lines = _stack_lines(ctx, decided, existing)
    logs = ctx.client("logs")
    for name in policy.function_names(ctx.app_name, ctx.stage):
        state = log_groups.describe(logs, f"/aws/lambda/{name}")
        lines.append(f"log group {state.name}: {'adopt' if state.exists else 'create'}")
    queue_arn = stack.outputs(existing).get("QueueArn")
    found = discovery.discover(ctx.client("lambda"), ctx.client("apigateway"), ctx.names, queue_arn)
    names = ctx.names
    for resource, function in (
        (discovery.API_HANDLER, names.api_function),
        (discovery.INDEX_HANDLER, names.index_function),
    ):
        lines.append(
            f"function {function}: {'update' if resource in found.functions else 'create'}"
        )
    lines.append(
        f"REST API: update {found.rest_api_ids[0]}" if found.rest_api_ids else "REST API: create"
    )
    lines.append(
        f"SQS event source: update {found.mappings[0]['UUID']}"
        if found.mappings
        else "SQS event source: create (then FunctionResponseTypes=ReportBatchItemFailures)"
    )
    lines += [f"duplicate: {d} (deploy keeps the oldest)" for d in found.duplicates]
    has_key = bool(api_keys.find_keys(ctx.client("apigateway"), ctx.resource_name))
    if decided.api_auth == "api_key":
        lines.append(f"API key {ctx.resource_name}: {'keep' if has_key else 'create'}")
    elif has_key:
        lines.append(f"API key {ctx.resource_name}: delete (API_AUTH={decided.api_auth})")
    lines.append("index template and alias: create if missing")
    return lines


def _stack_lines(ctx: Context, decided: Plan, existing) -> list[str]:
    params = decided.params
    if existing is None or existing["StackStatus"] in stack.RECREATE:
        domain = (
            f", OpenSearch domain {params['SearchDomainName']} (15-30 min)"
            if params["SearchDomainName"]
            else f", no domain (uses {params['ExistingSearchEndpoint']})"
        )
        return [
            f"stack {ctx.stack_name}: create: bucket {params['BucketName']}, queue and "
            f"dead-letter queue, role{domain}"
        ]
    previous = stack.parameters(existing)
    changed = []
    for key, value in params.items():
        if previous.get(key, "") == value:
            continue
        if key in DOCUMENT_PARAMETERS:
            changed.append(f"{key} (changed)")
        else:
            changed.append(f"{key}: {previous.get(key, '') or '-'} -> {value or '-'}")
    if not changed:
        return [f"stack {ctx.stack_name}: no parameter changes (template changes still apply)"]
    lines = [f"stack {ctx.stack_name}: update"]
    lines += [f"  {item}" for item in changed]
    if decided.deletes_domain:
        lines.append("  the stack's OpenSearch domain and its index are DELETED")
    return lines
