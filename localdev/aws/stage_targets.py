"""What the operations commands (redrive, relabel, compact) act on, read from the stage's stack.

The stack's outputs name the queue, its dead-letter queue, the bucket and the search endpoint;
the store is built from the stage's own settings (index alias, credentials), as the function
builds it, so a command reads and writes exactly the index the stage serves.
"""

from __future__ import annotations

from dataclasses import dataclass

from localdev.aws import stack
from localdev.aws.context import Context, DeployError


@dataclass(frozen=True)
class StageTargets:
    bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    search_endpoint: str


def stage_targets(ctx: Context) -> StageTargets:
    outputs = stack.outputs(stack.describe(ctx.client("cloudformation"), ctx.stack_name))
    if not outputs:
        raise DeployError(
            f"stage {ctx.stage} is not deployed (no stack {ctx.stack_name}): "
            f"run make deploy STAGE={ctx.stage} first"
        )
    return StageTargets(
        bucket=outputs["BucketName"],
        queue_url=outputs["QueueUrl"],
        queue_arn=outputs["QueueArn"],
        dlq_url=outputs["DeadLetterQueueUrl"],
        dlq_arn=outputs["DeadLetterQueueArn"],
        search_endpoint=outputs["SearchEndpoint"],
    )


def stage_store(ctx: Context, targets: StageTargets):
    """The stage's ElasticsearchStore, signed with the caller's credentials on AWS domains."""
    # Imported here: the search client costs 0.7 s to import (measured on this machine), which
    # every other command of python -m localdev.aws (deploy, status, ...) would pay for nothing.
    from chalicelib.search_client import create_search_client
    from chalicelib.store.elasticsearch_store import ElasticsearchStore

    settings = ctx.stage_settings(targets.search_endpoint)
    client = create_search_client(settings, session=ctx.session)
    return ElasticsearchStore(client, settings.index_alias, settings.index_replicas)
