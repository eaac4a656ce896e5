"""What ``chalice deploy`` recorded, and the SQS event source's partial-batch switch.

Chalice 1.34 never sets ``FunctionResponseTypes`` on the SQS event source mapping; without
``ReportBatchItemFailures`` Lambda ignores the handler's ``batchItemFailures`` and deletes the
whole batch. Chalice records the mapping's UUID in ``.chalice/deployed/<stage>.json``
(resource_type ``sqs_event``, key ``event_uuid``: chalice/deploy/planner.py
``_plan_sqseventsource``), and a redeploy only resends BatchSize, the batching window and the
concurrency, so turning the flag on once per deploy keeps it on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PARTIAL_BATCH = ["ReportBatchItemFailures"]


def deployed_path(project_dir: Path, stage: str) -> Path:
    return project_dir / ".chalice" / "deployed" / f"{stage}.json"


def deployed_resources(project_dir: Path, stage: str) -> list[dict[str, Any]]:
    path = deployed_path(project_dir, stage)
    if not path.exists():
        return []
    return json.loads(path.read_text()).get("resources", [])


def resources_of(resources: list[dict[str, Any]], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in resources if r.get("resource_type") == resource_type]


def rest_api(resources: list[dict[str, Any]]) -> dict[str, Any] | None:
    found = resources_of(resources, "rest_api")
    return found[0] if found else None


def function_name(lambda_arn: str) -> str:
    return lambda_arn.split(":function:", 1)[1].split(":", 1)[0]


def enable_partial_batch_responses(lambda_client, resources: list[dict[str, Any]]) -> list[dict]:
    """Sets ReportBatchItemFailures on every SQS mapping chalice created; returns the mappings."""
    mappings = []
    for source in resources_of(resources, "sqs_event"):
        uuid = source["event_uuid"]
        current = lambda_client.get_event_source_mapping(UUID=uuid)
        if current.get("FunctionResponseTypes") != PARTIAL_BATCH:
            lambda_client.update_event_source_mapping(
                UUID=uuid, FunctionResponseTypes=PARTIAL_BATCH
            )
            current = lambda_client.get_event_source_mapping(UUID=uuid)
        if current.get("FunctionResponseTypes") != PARTIAL_BATCH:
            raise RuntimeError(
                f"event source mapping {uuid} still reports "
                f"FunctionResponseTypes={current.get('FunctionResponseTypes')}"
            )
        mappings.append(current)
    return mappings
