"""The Lambda role's least-privilege policy, rendered per stage.

The stack's role (``FunctionRole`` in infra/template.yaml) carries exactly this document: deploy
renders it, writes it to ``.chalice/policy-<stage>.json`` for review and passes the same JSON to
the stack as ``FunctionPolicyDocument``. Nothing else grants the functions anything.

What it grants, and why:

* ``rekognition:DetectLabels`` (+ ``DetectText`` / ``DetectModerationLabels`` / ``DetectFaces``
  only when the stage turns them on). Rekognition's Detect* actions have no resource-level
  permissions, so ``"Resource": "*"`` is the only possible form.
* ``s3:GetObject`` and ``s3:GetObjectVersion`` on the image bucket's objects: Rekognition reads
  the object with the caller's permissions, and the API presigns GET URLs with them.
  ``s3:PutObject`` on the upload prefix only when the stage enables browser uploads
  (``UPLOAD_BUCKET``): presigned POST forms carry the role's permission.
* ``es:ESHttpGet/Head/Post/Put/Delete`` on the domain's paths, when the cluster is an AWS
  domain (a self-managed endpoint authenticates otherwise).
* ``sqs:ReceiveMessage/DeleteMessage/GetQueueAttributes/ChangeMessageVisibility`` on the upload
  queue: what the Lambda event source mapping needs.
* ``logs:CreateLogStream/PutLogEvents`` on the functions' own log groups, which the stack
  creates (with retention), so the role never needs ``logs:CreateLogGroup``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REKOGNITION_ACTIONS = {
    "detect_text": "rekognition:DetectText",
    "detect_moderation_labels": "rekognition:DetectModerationLabels",
    "detect_faces": "rekognition:DetectFaces",
}
SEARCH_ACTIONS = [
    "es:ESHttpGet",
    "es:ESHttpHead",
    "es:ESHttpPost",
    "es:ESHttpPut",
    "es:ESHttpDelete",
]
QUEUE_ACTIONS = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
]
LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
INDEX_HANDLER = "index_images"


def function_names(app_name: str, stage: str) -> list[str]:
    """Chalice's names for this app's functions: the API handler and the SQS handler.

    (chalice/deploy/appgraph.py: ``<app>-<stage>`` for the API, ``<app>-<stage>-<handler>``
    for event handlers.) The stack creates one log group for each.
    """
    return [f"{app_name}-{stage}", f"{app_name}-{stage}-{INDEX_HANDLER}"]


@dataclass(frozen=True)
class PolicyInputs:
    partition: str
    region: str
    account: str
    app_name: str
    stage: str
    bucket: str
    queue_name: str
    domain_arn: str | None = None
    detect_text: bool = False
    detect_moderation_labels: bool = False
    detect_faces: bool = False
    upload_prefix: str | None = None  # set when the stage enables browser uploads

    @property
    def queue_arn(self) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{self.queue_name}"

    def log_group_arn(self, function_name: str) -> str:
        return (
            f"arn:{self.partition}:logs:{self.region}:{self.account}"
            f":log-group:/aws/lambda/{function_name}"
        )


def build_policy(inputs: PolicyInputs) -> dict:
    rekognition = ["rekognition:DetectLabels"] + [
        action for flag, action in REKOGNITION_ACTIONS.items() if getattr(inputs, flag)
    ]
    bucket_arn = f"arn:{inputs.partition}:s3:::{inputs.bucket}"
    statements = [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": LOG_ACTIONS,
            "Resource": [
                f"{inputs.log_group_arn(name)}:*"
                for name in function_names(inputs.app_name, inputs.stage)
            ],
        },
        {
            "Sid": "LabelImages",
            "Effect": "Allow",
            "Action": rekognition,
            "Resource": "*",
        },
        {
            "Sid": "ReadImages",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"{bucket_arn}/*",
        },
    ]
    if inputs.upload_prefix:
        statements.append(
            {
                "Sid": "PresignUploads",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": f"{bucket_arn}/{inputs.upload_prefix}*",
            }
        )
    statements.append(
        {
            "Sid": "ConsumeUploadEvents",
            "Effect": "Allow",
            "Action": QUEUE_ACTIONS,
            "Resource": inputs.queue_arn,
        }
    )
    if inputs.domain_arn:
        statements.append(
            {
                "Sid": "ReadWriteImageIndex",
                "Effect": "Allow",
                "Action": SEARCH_ACTIONS,
                "Resource": f"{inputs.domain_arn}/*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def policy_path(project_dir: Path, stage: str) -> Path:
    return project_dir / ".chalice" / f"policy-{stage}.json"


def render(policy: dict) -> str:
    """The file form: indented, one action per line, trailing newline (stable diffs)."""
    return json.dumps(policy, indent=2) + "\n"


def compact(policy: dict) -> str:
    """The stack parameter form (CloudFormation parameters are limited to 4 KB)."""
    return json.dumps(policy, separators=(",", ":"))


def write_policy(project_dir: Path, stage: str, policy: dict) -> tuple[Path, bool]:
    """Writes the file when its content changes; returns the path and whether it did."""
    path = policy_path(project_dir, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render(policy)
    if path.exists() and path.read_text() == text:
        return path, False
    path.write_text(text)
    return path, True
