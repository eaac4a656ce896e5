"""The permission list from the issue, written independently of localdev/aws/policy.py.

``violations(document, expected)`` names every grant outside that list and every required grant
that is missing; an empty list means the policy is exactly right.
"""

from __future__ import annotations

from dataclasses import dataclass

QUEUE_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
}
SEARCH_ACTIONS = {
    "es:ESHttpGet",
    "es:ESHttpHead",
    "es:ESHttpPost",
    "es:ESHttpPut",
    "es:ESHttpDelete",
}
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
OPTIONAL_REKOGNITION = {
    "detect_text": "rekognition:DetectText",
    "detect_moderation_labels": "rekognition:DetectModerationLabels",
    "detect_faces": "rekognition:DetectFaces",
}


@dataclass(frozen=True)
class Expected:
    account: str
    region: str
    app: str
    stage: str
    bucket: str
    domain_arn: str | None = None
    detect_text: bool = False
    detect_moderation_labels: bool = False
    detect_faces: bool = False
    upload_prefix: str | None = None

    def allowed(self) -> dict[str, set[str]]:
        """action -> the only resources it may be granted on."""
        queue = f"arn:aws:sqs:{self.region}:{self.account}:{self.app}-{self.stage}-uploads"
        logs = {
            f"arn:aws:logs:{self.region}:{self.account}:log-group:/aws/lambda/{name}:*"
            for name in (f"{self.app}-{self.stage}", f"{self.app}-{self.stage}-index_images")
        }
        objects = f"arn:aws:s3:::{self.bucket}/*"
        grants = {"rekognition:DetectLabels": {"*"}}
        for flag, action in OPTIONAL_REKOGNITION.items():
            if getattr(self, flag):
                grants[action] = {"*"}
        grants["s3:GetObject"] = {objects}
        grants["s3:GetObjectVersion"] = {objects}
        if self.upload_prefix:
            grants["s3:PutObject"] = {f"arn:aws:s3:::{self.bucket}/{self.upload_prefix}*"}
        for action in QUEUE_ACTIONS:
            grants[action] = {queue}
        for action in LOG_ACTIONS:
            grants[action] = set(logs)
        if self.domain_arn:
            for action in SEARCH_ACTIONS:
                grants[action] = {f"{self.domain_arn}/*"}
        return grants


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def granted(document: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for statement in document["Statement"]:
        for action in _as_list(statement["Action"]):
            found.setdefault(action, set()).update(_as_list(statement["Resource"]))
    return found


def violations(document: dict, expected: Expected) -> list[str]:
    problems = []
    if document.get("Version") != "2012-10-17":
        problems.append(f"Version is {document.get('Version')}")
    for statement in document["Statement"]:
        if statement.get("Effect") != "Allow":
            problems.append(f"{statement.get('Sid')}: Effect {statement.get('Effect')}")
        for key in ("NotAction", "NotResource", "NotPrincipal", "Principal"):
            if key in statement:
                problems.append(f"{statement.get('Sid')}: uses {key}")
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        for action in actions:
            if "*" in action or "?" in action:
                problems.append(f"{statement.get('Sid')}: wildcard action {action}")
        if "*" in resources and not all(a.startswith("rekognition:") for a in actions):
            problems.append(f"{statement.get('Sid')}: Resource * for {actions}")
    allowed = expected.allowed()
    have = granted(document)
    for action, resources in have.items():
        if action not in allowed:
            problems.append(f"{action} is not on the list")
            continue
        extra = resources - allowed[action]
        if extra:
            problems.append(f"{action} granted on {sorted(extra)}")
    for action, resources in allowed.items():
        missing = resources - have.get(action, set())
        if missing:
            problems.append(f"{action} missing on {sorted(missing)}")
    return problems
