"""What ``chalice deploy`` recorded, and the SQS event source's partial-batch switch.

Chalice 1.34 never sets ``FunctionResponseTypes`` on the SQS event source mapping; without
``ReportBatchItemFailures`` Lambda ignores the handler's ``batchItemFailures`` and deletes the
whole batch. Chalice records the mapping's UUID in ``.chalice/deployed/<stage>.json``
(resource_type ``sqs_event``, key ``event_uuid``: chalice/deploy/planner.py
``_plan_sqseventsource``), and a redeploy only resends BatchSize, the batching window and the
concurrency, so turning the flag on once per deploy keeps it on.

Chalice sends ``ScalingConfig`` only when ``maximum_concurrency`` is truthy
(chalice/awsclient.py ``_update_lambda_event_source``), so a stage that drops REKOGNITION_TPS
would keep its old bound: ``clear_maximum_concurrency`` removes it with an empty ScalingConfig
("To remove the configuration, pass an empty value": Lambda's ScalingConfig reference).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

PARTIAL_BATCH = ["ReportBatchItemFailures"]
# States in which an update is accepted; a disabled mapping (by the user) is left disabled.
STEADY = ("Enabled", "Disabled")
SETTLE_ATTEMPTS = 12  # about 1.5 minutes of backoff


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


def enable_partial_batch_responses(
    lambda_client,
    resources: list[dict[str, Any]],
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = SETTLE_ATTEMPTS,
) -> list[dict]:
    """Sets ReportBatchItemFailures on every SQS mapping chalice created; returns the mappings.

    A mapping chalice has just created is in state Creating for a few seconds, and Lambda
    answers ``ResourceInUseException`` to an update until it is Enabled (chalice's own
    deployer retries the same case: awsclient.py ``_update_lambda_event_source``). So this
    retries with backoff, then reads the mapping back until it is Enabled with the flag on.
    """
    return [
        _enable_one(lambda_client, source["event_uuid"], sleep, attempts)
        for source in resources_of(resources, "sqs_event")
    ]


def clear_maximum_concurrency(
    lambda_client,
    mappings: list[dict],
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = SETTLE_ATTEMPTS,
) -> list[dict]:
    """Removes ScalingConfig from each mapping that has one; returns the mappings as they are."""
    return [
        _clear_one(lambda_client, mapping, sleep, attempts)
        if mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
        else mapping
        for mapping in mappings
    ]


def _clear_one(lambda_client, mapping: dict, sleep, attempts: int) -> dict:
    uuid = mapping["UUID"]
    for _ in _attempts(attempts, sleep):
        try:
            return lambda_client.update_event_source_mapping(UUID=uuid, ScalingConfig={})
        except ClientError as error:
            # Still Updating from chalice's or the flag's update: wait as _enable_one does.
            _raise_unless_in_use(error)
    raise RuntimeError(
        f"event source mapping {uuid} stayed in use for {attempts} attempts; run the deploy "
        f"again, or remove its maximum concurrency by hand: aws lambda "
        f"update-event-source-mapping --uuid {uuid} --scaling-config '{{}}'"
    )


def _attempts(count: int, sleep) -> Iterator[int]:
    """Attempt numbers 1..count, sleeping between them: 1 s, doubling, at most 10 s."""
    delay = 1.0
    for attempt in range(1, count + 1):
        yield attempt
        if attempt < count:
            sleep(delay)
            delay = min(delay * 2, 10.0)


def _raise_unless_in_use(error: ClientError) -> None:
    """ResourceInUseException: the mapping is still being updated, so try again later."""
    if error.response["Error"]["Code"] != "ResourceInUseException":
        raise error


def _enable_one(lambda_client, uuid: str, sleep, attempts: int) -> dict:
    for _ in _attempts(attempts, sleep):
        current = lambda_client.get_event_source_mapping(UUID=uuid)
        if current.get("FunctionResponseTypes") == PARTIAL_BATCH and current["State"] in STEADY:
            return current
        if current.get("FunctionResponseTypes") != PARTIAL_BATCH and current["State"] in STEADY:
            try:
                lambda_client.update_event_source_mapping(
                    UUID=uuid, FunctionResponseTypes=PARTIAL_BATCH
                )
            except ClientError as error:
                _raise_unless_in_use(error)
    raise RuntimeError(
        f"event source mapping {uuid} is {current.get('State')} with "
        f"FunctionResponseTypes={current.get('FunctionResponseTypes')} after {attempts} "
        "attempts; run the deploy again, or set it by hand: aws lambda "
        f"update-event-source-mapping --uuid {uuid} --function-response-types "
        "ReportBatchItemFailures"
    )
