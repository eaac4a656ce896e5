"""Finds a stage's chalice resources in AWS, so any clone deploys and tears down the same ones.

``chalice deploy`` keeps what it created in ``.chalice/deployed/<stage>.json``, which is
git-ignored. Chalice looks functions up by name, but the REST API and the SQS event source
mapping only by that file (chalice/deploy/planner.py ``_resource_exists_restapi``,
``_resource_exists_sqseventsource``): from a second clone, or after the folder is lost, it would
create a second REST API and a second mapping, and teardown would miss the first. So before
chalice runs, deploy finds the stage's resources by name and writes the file chalice
would have written; status reports duplicates and teardown removes every copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from localdev.aws.policy import INDEX_HANDLER

API_HANDLER = "api_handler"  # chalice's resource name for the API function (appgraph.py)
REST_API = "rest_api"
SQS_EVENT = f"{INDEX_HANDLER}-sqs-event-source"


@dataclass(frozen=True)
class StageNames:
    app_name: str
    stage: str
    partition: str
    region: str
    api_gateway_stage: str = "api"

    @property
    def api_function(self) -> str:
        return f"{self.app_name}-{self.stage}"

    @property
    def index_function(self) -> str:
        return f"{self.app_name}-{self.stage}-{INDEX_HANDLER}"

    def rest_api_url(self, rest_api_id: str) -> str:
        suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        return f"https://{rest_api_id}.execute-api.{self.region}.{suffix}/{self.api_gateway_stage}/"


@dataclass
class StageResources:
    functions: dict[str, str] = field(default_factory=dict)  # chalice resource name -> ARN
    mappings: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    rest_api_ids: list[str] = field(default_factory=list)  # oldest first

    @property
    def duplicates(self) -> list[str]:
        found = []
        if len(self.rest_api_ids) > 1:
            found.append(f"{len(self.rest_api_ids)} REST APIs: {', '.join(self.rest_api_ids)}")
        if len(self.mappings) > 1:
            uuids = ", ".join(m["UUID"] for m in self.mappings)
            found.append(f"{len(self.mappings)} SQS event source mappings: {uuids}")
        return found

    @property
    def empty(self) -> bool:
        return not (self.functions or self.mappings or self.rest_api_ids)


def discover(lambda_client, apigateway, names: StageNames, queue_arn: str | None) -> StageResources:
    found = StageResources()
    for resource_name, function in (
        (API_HANDLER, names.api_function),
        (INDEX_HANDLER, names.index_function),
    ):
        try:
            configuration = lambda_client.get_function(FunctionName=function)["Configuration"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            continue
        found.functions[resource_name] = configuration["FunctionArn"]
    if INDEX_HANDLER in found.functions:
        found.mappings = [
            mapping
            # By ARN: Lambda matches a name or an ARN, moto only what the mapping was made with
            # (chalice creates it with the ARN).
            for mapping in _mappings(lambda_client, found.functions[INDEX_HANDLER])
            if queue_arn is None or mapping["EventSourceArn"] == queue_arn
        ]
    found.rest_api_ids = _rest_apis(apigateway, names)
    return found


def _mappings(lambda_client, function_arn: str) -> list[dict[str, Any]]:
    paginator = lambda_client.get_paginator("list_event_source_mappings")
    mappings = [
        mapping
        for page in paginator.paginate(FunctionName=function_arn)
        for mapping in page.get("EventSourceMappings", [])
    ]
    return sorted(mappings, key=lambda m: str(m.get("LastModified", "")))


def _rest_apis(apigateway, names: StageNames) -> list[str]:
    """REST APIs named like the app whose Lambda integrations call this stage's API function.

    Chalice names every stage's REST API after the app, so the name alone cannot tell dev from
    prod; the integration URI names the function, whichever clone or tool deployed the API.
    """
    candidates = [
        api
        for page in apigateway.get_paginator("get_rest_apis").paginate()
        for api in page.get("items", [])
        if api.get("name") == names.app_name
    ]
    return [
        api["id"]
        for api in sorted(candidates, key=lambda a: str(a.get("createdDate", "")))
        if _integrates(apigateway, api["id"], names.api_function)
    ]


def _integrates(apigateway, rest_api_id: str, function_name: str) -> bool:
    resources = apigateway.get_resources(restApiId=rest_api_id, limit=500).get("items", [])
    for resource in resources:
        for method in resource.get("resourceMethods") or {}:
            try:
                integration = apigateway.get_integration(
                    restApiId=rest_api_id, resourceId=resource["id"], httpMethod=method
                )
            except ClientError:
                continue
            if f":function:{function_name}/" in integration.get("uri", ""):
                return True
    return False


def deployed_state(found: StageResources, names: StageNames, queue_arn: str) -> dict[str, Any]:
    """What chalice would have recorded in .chalice/deployed/<stage>.json for these resources.

    The oldest REST API and mapping are the ones kept (they are what users and links know).
    """
    resources: list[dict[str, Any]] = []
    index_arn = found.functions.get(INDEX_HANDLER)
    if index_arn:
        resources.append(
            {"name": INDEX_HANDLER, "resource_type": "lambda_function", "lambda_arn": index_arn}
        )
        if found.mappings:
            resources.append(
                {
                    "name": SQS_EVENT,
                    "resource_type": "sqs_event",
                    "queue_arn": found.mappings[0]["EventSourceArn"],
                    "event_uuid": found.mappings[0]["UUID"],
                    "queue": queue_arn.rsplit(":", 1)[1],
                    "lambda_arn": index_arn,
                }
            )
    api_arn = found.functions.get(API_HANDLER)
    if api_arn:
        resources.append(
            {"name": API_HANDLER, "resource_type": "lambda_function", "lambda_arn": api_arn}
        )
        if found.rest_api_ids:
            rest_api_id = found.rest_api_ids[0]
            resources.append(
                {
                    "name": REST_API,
                    "resource_type": "rest_api",
                    "rest_api_id": rest_api_id,
                    "rest_api_url": names.rest_api_url(rest_api_id),
                }
            )
    return {"resources": resources, "schema_version": "2.0", "backend": "api"}


def write_deployed_state(path: Path, state: dict[str, Any]) -> bool:
    """Writes chalice's state file when it differs from what exists; returns whether it did."""
    text = json.dumps(state, indent=2) + "\n"
    if path.exists():
        try:
            if _same(json.loads(path.read_text()), state):
                return False
        except json.JSONDecodeError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


def _same(recorded: dict[str, Any], discovered: dict[str, Any]) -> bool:
    def key(resources):
        return sorted(json.dumps(r, sort_keys=True) for r in resources)

    return key(recorded.get("resources", [])) == key(discovered["resources"])


def remove_duplicate_mappings(lambda_client, found: StageResources) -> list[str]:
    """Deletes every mapping of the queue to the indexer but the oldest; returns their UUIDs.

    Two mappings on one queue would each poll it: messages are still processed once each, but
    at twice the pollers, and teardown from chalice's state would leave one behind.
    """
    removed = []
    for mapping in found.mappings[1:]:
        lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])
        removed.append(mapping["UUID"])
    found.mappings = found.mappings[:1]
    return removed
