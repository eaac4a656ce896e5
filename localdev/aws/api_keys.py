"""API key and usage plan for stages with ``API_AUTH=api_key``.

Chalice's ``api_key_required=True`` only marks the methods; API Gateway accepts a key only when
it belongs to a usage plan bound to the API's stage. Both are named ``<app>-<stage>`` so that a
re-run finds them, rebinds the plan when ``chalice delete`` + deploy created a new REST API, and
teardown removes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# Generous for a trial, low enough that a leaked key cannot run up a bill quickly.
THROTTLE = {"rateLimit": 20.0, "burstLimit": 40}
QUOTA = {"limit": 50_000, "period": "MONTH"}


@dataclass(frozen=True)
class ApiKeyAccess:
    key_id: str
    usage_plan_id: str


def _pages(call, **kwargs) -> Iterator[dict]:
    position = None
    while True:
        page = call(**kwargs, **({"position": position} if position else {}), limit=500)
        yield from page.get("items", [])
        position = page.get("position")
        if not position:
            return


def find_keys(apigateway, name: str) -> list[dict]:
    return [k for k in _pages(apigateway.get_api_keys, nameQuery=name) if k["name"] == name]


def find_plans(apigateway, name: str) -> list[dict]:
    return [p for p in _pages(apigateway.get_usage_plans) if p["name"] == name]


def ensure(apigateway, name: str, rest_api_id: str, stage: str) -> ApiKeyAccess:
    keys = find_keys(apigateway, name)
    key = keys[0] if keys else apigateway.create_api_key(name=name, enabled=True)
    plans = find_plans(apigateway, name)
    wanted = {"apiId": rest_api_id, "stage": stage}
    if plans:
        plan = plans[0]
        bound = [(s["apiId"], s["stage"]) for s in plan.get("apiStages", [])]
        operations = [
            {"op": "remove", "path": "/apiStages", "value": f"{api_id}:{api_stage}"}
            for api_id, api_stage in bound
            if (api_id, api_stage) != (rest_api_id, stage)
        ]
        if (rest_api_id, stage) not in bound:
            operations.append(
                {"op": "add", "path": "/apiStages", "value": f"{rest_api_id}:{stage}"}
            )
        if operations:
            apigateway.update_usage_plan(usagePlanId=plan["id"], patchOperations=operations)
    else:
        plan = apigateway.create_usage_plan(
            name=name,
            description="Image Label Search API key (created by python -m localdev.aws deploy)",
            apiStages=[wanted],
            throttle=THROTTLE,
            quota=QUOTA,
        )
    plan_keys = {k["id"] for k in _pages(apigateway.get_usage_plan_keys, usagePlanId=plan["id"])}
    if key["id"] not in plan_keys:
        apigateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    return ApiKeyAccess(key_id=key["id"], usage_plan_id=plan["id"])


def throttle_stage(apigateway, rest_api_id: str, stage: str) -> None:
    """Stage-wide throttling for a stage without auth, so a leaked URL cannot run up a bill.

    (API Gateway applies quotas only per API key; a stage that needs a monthly cap uses
    API_AUTH=api_key, whose usage plan has QUOTA.)
    """
    apigateway.update_stage(
        restApiId=rest_api_id,
        stageName=stage,
        patchOperations=[
            {"op": "replace", "path": f"/*/*/throttling/{name}", "value": str(THROTTLE[name])}
            for name in ("rateLimit", "burstLimit")
        ],
    )


def delete(apigateway, name: str) -> list[str]:
    """Deletes the usage plan(s) and key(s) of that name; returns what it deleted."""
    deleted = []
    for plan in find_plans(apigateway, name):
        for key in _pages(apigateway.get_usage_plan_keys, usagePlanId=plan["id"]):
            apigateway.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
        stages = [f"{s['apiId']}:{s['stage']}" for s in plan.get("apiStages", [])]
        if stages:
            apigateway.update_usage_plan(
                usagePlanId=plan["id"],
                patchOperations=[
                    {"op": "remove", "path": "/apiStages", "value": s} for s in stages
                ],
            )
        apigateway.delete_usage_plan(usagePlanId=plan["id"])
        deleted.append(f"usage plan {plan['id']}")
    for key in find_keys(apigateway, name):
        apigateway.delete_api_key(apiKey=key["id"])
        deleted.append(f"API key {key['id']}")
    return deleted
