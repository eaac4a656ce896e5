"""``status``: what exists for a stage, read from AWS (not from local files alone)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from localdev.aws import api_keys, discovery, event_source, stack
from localdev.aws.context import Context

QUEUE_COUNTS = {
    "visible": "ApproximateNumberOfMessages",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}


def collect(ctx: Context) -> dict[str, Any]:
    cfn = ctx.client("cloudformation")
    described = stack.describe(cfn, ctx.stack_name)
    outputs = stack.outputs(described)
    report: dict[str, Any] = {
        "stage": ctx.stage,
        "region": ctx.region,
        "account": ctx.account,
        "stack": {
            "name": ctx.stack_name,
            "status": described["StackStatus"] if described else "NOT_DEPLOYED",
            "outputs": outputs,
        },
    }
    sqs = ctx.client("sqs")
    report["queue"] = _queue(sqs, outputs.get("QueueName"))
    dlq_name = outputs.get("DeadLetterQueueArn", "").rsplit(":", 1)[-1] or None
    report["dead_letter_queue"] = _queue(sqs, dlq_name)
    report["search"] = _search(ctx, outputs)

    # Read from AWS, not from chalice's git-ignored state file: the same answer from any clone.
    names = ctx.names
    lambda_client, apigateway = ctx.client("lambda"), ctx.client("apigateway")
    found = discovery.discover(lambda_client, apigateway, names, queue_arn=None)
    report["functions"] = [
        _function(lambda_client, event_source.function_name(arn))
        for arn in found.functions.values()
    ]
    report["event_sources"] = [_mapping(lambda_client, m["UUID"]) for m in found.mappings]
    keys = api_keys.find_keys(apigateway, ctx.resource_name)
    view = ctx.stage_view()
    report["api"] = {
        "url": names.rest_api_url(found.rest_api_ids[0]) if found.rest_api_ids else None,
        "auth": stack.api_auth(described, view.environment.get("API_AUTH")),
        "api_key_ids": [k["id"] for k in keys],
    }
    report["duplicates"] = found.duplicates
    report["alarms"] = alarms(ctx.client("cloudwatch"), alarm_prefix(ctx.app_name, ctx.stage))
    return report


def alarm_prefix(app_name: str, stage: str) -> str:
    """Every alarm of infra/template.yaml is named ``<app>-<stage>-<what>``; a stage name has no
    hyphen (the template's Stage pattern), so no other stage's alarms share the prefix."""
    return f"{app_name}-{stage}-"


def alarms(cloudwatch, prefix: str) -> list[dict[str, Any]]:
    """The stage's alarms with their state (OK, ALARM, INSUFFICIENT_DATA) and why."""
    try:
        pages = cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"]
        )
        found = [alarm for page in pages for alarm in page["MetricAlarms"]]
    except ClientError as error:
        return [{"name": f"{prefix}*", "error": error.response["Error"]["Code"]}]
    return [
        {
            "name": alarm["AlarmName"],
            "state": alarm["StateValue"],
            "reason": alarm.get("StateReason"),
            "since": alarm.get("StateUpdatedTimestamp"),
            "notifies": alarm.get("AlarmActions", []),
        }
        for alarm in sorted(found, key=lambda alarm: alarm["AlarmName"])
    ]


def _queue(sqs, name: str | None) -> dict[str, Any] | None:
    if not name:
        return None
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    except ClientError as error:
        return {"name": name, "error": error.response["Error"]["Code"]}
    counts = {label: int(attributes.get(key, 0)) for label, key in QUEUE_COUNTS.items()}
    return {"name": name, **counts}


def _search(ctx: Context, outputs: dict[str, str]) -> dict[str, Any] | None:
    endpoint = outputs.get("SearchEndpoint")
    if not endpoint:
        return None
    found: dict[str, Any] = {"endpoint": endpoint}
    arn = outputs.get("SearchDomainArn")
    if arn:
        try:
            domain = ctx.client("opensearch").describe_domain(DomainName=arn.rsplit("/", 1)[1])
            status = domain["DomainStatus"]
            found.update(
                domain=status["DomainName"],
                engine=status.get("EngineVersion"),
                processing=status.get("Processing"),
                instance=status.get("ClusterConfig", {}).get("InstanceType"),
            )
        except ClientError as error:
            found["error"] = error.response["Error"]["Code"]
    return found


def _function(lambda_client, name: str) -> dict[str, Any]:
    try:
        config = lambda_client.get_function(FunctionName=name)["Configuration"]
    except ClientError as error:
        return {"name": name, "error": error.response["Error"]["Code"]}
    return {
        "name": name,
        "state": config.get("State"),
        "runtime": config.get("Runtime"),
        "timeout": config.get("Timeout"),
        "memory": config.get("MemorySize"),
        "role": config.get("Role"),
    }


def _mapping(lambda_client, uuid: str) -> dict[str, Any]:
    try:
        mapping = lambda_client.get_event_source_mapping(UUID=uuid)
    except ClientError as error:
        return {"uuid": uuid, "error": error.response["Error"]["Code"]}
    return {
        "uuid": uuid,
        "state": mapping.get("State"),
        "batch_size": mapping.get("BatchSize"),
        "batching_window": mapping.get("MaximumBatchingWindowInSeconds"),
        "function_response_types": mapping.get("FunctionResponseTypes") or [],
        "queue_arn": mapping.get("EventSourceArn"),
    }


def render(report: dict[str, Any]) -> list[str]:
    stack_info = report["stack"]
    lines = [
        f"Stage {report['stage']} (account {report['account']}, {report['region']})",
        f"  stack          {stack_info['name']}: {stack_info['status']}",
    ]
    outputs = stack_info["outputs"]
    if outputs.get("BucketName"):
        lines.append(f"  bucket         {outputs['BucketName']}")
    for label, key in (("indexer role", "IndexerRoleArn"), ("api role", "ApiRoleArn")):
        if outputs.get(key):
            lines.append(f"  {label:<14} {outputs[key]}")
    for label, key in (("queue", "queue"), ("dead letters", "dead_letter_queue")):
        queue = report.get(key)
        if not queue:
            continue
        if "error" in queue:
            lines.append(f"  {label:<14} {queue['name']}: {queue['error']}")
        else:
            lines.append(
                f"  {label:<14} {queue['name']}: {queue['visible']} visible, "
                f"{queue['in_flight']} in flight, {queue['delayed']} delayed"
            )
    search = report.get("search")
    if search:
        extra = ""
        if search.get("domain"):
            busy = ", changes in progress" if search.get("processing") else ""
            extra = f" ({search['domain']}, {search['engine']}, {search['instance']}{busy})"
        elif search.get("error"):
            extra = f" ({search['error']})"
        lines.append(f"  search         {search['endpoint']}{extra}")
    if not report["functions"]:
        lines.append("  functions      none deployed")
    for function in report["functions"]:
        if "error" in function:
            lines.append(f"  function       {function['name']}: {function['error']}")
        else:
            lines.append(
                f"  function       {function['name']}: {function['state']}, "
                f"{function['runtime']}, {function['timeout']} s, {function['memory']} MB"
            )
    for mapping in report["event_sources"]:
        if "error" in mapping:
            lines.append(f"  event source   {mapping['uuid']}: {mapping['error']}")
        else:
            lines.append(
                f"  event source   {mapping['uuid']}: {mapping['state']}, batch "
                f"{mapping['batch_size']}, window {mapping['batching_window']} s, "
                f"FunctionResponseTypes={mapping['function_response_types']}"
            )
    api = report["api"]
    keys = f", API key {', '.join(api['api_key_ids'])}" if api["api_key_ids"] else ""
    lines.append(f"  API            {api['url'] or 'not deployed'} (auth: {api['auth']}{keys})")
    lines += alarm_lines(report.get("alarms", []))
    for duplicate in report["duplicates"]:
        lines.append(
            f"  DUPLICATE      {duplicate} (teardown removes all; deploy keeps the oldest)"
        )
    return lines


def alarm_lines(found: list[dict[str, Any]]) -> list[str]:
    if not found:
        return ["  alarms         none (deploy creates them with the stack)"]
    lines = []
    for alarm in found:
        if "error" in alarm:
            lines.append(f"  alarms         {alarm['name']}: {alarm['error']}")
            continue
        since = f" since {alarm['since']:%Y-%m-%d %H:%M} UTC" if alarm["since"] else ""
        notifies = ", notifies SNS" if alarm["notifies"] else ""
        lines.append(f"  alarm          {alarm['name']}: {alarm['state']}{since}{notifies}")
        if alarm["state"] == "ALARM" and alarm["reason"]:
            lines.append(f"                 {alarm['reason']} (docs/runbook.md)")
    return lines
