"""A stage for the operations commands: the stack and the index, without functions.

``deploy --stack-only`` creates what redrive, relabel and compact act on (queue, dead-letter
queue, bucket, the index on the test session's node) from the project copy of a clean clone,
in a few seconds against moto; the functions themselves play no part in those commands.
"""

from __future__ import annotations

from pathlib import Path

from localdev.aws import stack
from localdev.aws.__main__ import main

APP, STAGE = "image-label-search", "dev"


def common_args(project: Path) -> list[str]:
    return ["--stage", STAGE, "--project-dir", str(project), "--poll-seconds", "1"]


def deploy_stage(project: Path, opensearch_url: str, session) -> dict[str, str]:
    """Deploys the stack-only stage; returns the stack's outputs."""
    flags = ["--yes", "--stack-only", "--search-endpoint", opensearch_url]
    assert main(["deploy", *common_args(project), *flags]) == 0
    return stack.outputs(stack.describe(session.client("cloudformation"), f"{APP}-{STAGE}"))


def drain_messages(sqs, queue_url: str) -> list[dict]:
    """Every message in the queue, with its message attributes (received and deleted)."""
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages"):
        messages += batch
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
        )
    return messages


def drain(sqs, queue_url: str) -> list[str]:
    """Every body in the queue (received and deleted)."""
    return [message["Body"] for message in drain_messages(sqs, queue_url)]
