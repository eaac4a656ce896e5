"""The permission lists from the issue, one per function, written independently of
localdev/aws/policy.py (on purpose: a mistake there must not be copied into the checker).

``violations(document, expected, function)`` names every grant outside that function's list and
every required grant that is missing; an empty list means the policy is exactly right.

The search paths are the requests chalicelib/store/elasticsearch_store.py sends through the
elasticsearch-py 7.13 client: ``_mget`` -> ``POST /<alias>/_mget``, ``bulk(index=alias)`` ->
``POST /<alias>/_bulk``, ``get`` -> ``GET /<alias>/_doc/<id>``, ``search`` ->
``POST /<alias>/_search``, ``count`` -> ``POST /<alias>/_count``, ``msearch`` ->
``POST /<alias>/_msearch``, ``termvectors`` -> ``POST /<alias>/_termvectors`` (6.x:
``/<alias>/_doc/_termvectors``), ``ping`` -> ``HEAD /``, and
``ensure_ready()`` (run by the indexer's first write) -> ``PUT /_template/<alias>``,
``HEAD /_alias/<alias>``, ``PUT /<alias>-v<N>``, ``GET /_cluster/health/<alias>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.store.mapping import MAPPING_VERSION

INDEXER, API = "index_images", "api_handler"
QUEUE_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
}
# Under a Rekognition quota only: a throttled message is sent back to the queue.
REDELIVERY_ACTIONS = {"sqs:SendMessage", "sqs:GetQueueUrl"}
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
    alias: str = "imagerepository"
    redelivers_throttled: bool = False

    def allowed(self, function: str) -> dict[str, set[str]]:
        """action -> the only resources the function's role may be granted it on."""
        name = f"{self.app}-{self.stage}" + ("-index_images" if function == INDEXER else "")
        logs = f"arn:aws:logs:{self.region}:{self.account}:log-group:/aws/lambda/{name}:*"
        objects = f"arn:aws:s3:::{self.bucket}/*"
        grants = {action: {logs} for action in LOG_ACTIONS}
        grants["s3:GetObject"] = {objects}
        grants["s3:GetObjectVersion"] = {objects}
        if function == INDEXER:
            grants["rekognition:DetectLabels"] = {"*"}
            for flag, action in OPTIONAL_REKOGNITION.items():
                if getattr(self, flag):
                    grants[action] = {"*"}
            queue = f"arn:aws:sqs:{self.region}:{self.account}:{self.app}-{self.stage}-uploads"
            for action in QUEUE_ACTIONS | (
                REDELIVERY_ACTIONS if self.redelivers_throttled else set()
            ):
                grants[action] = {queue}
        elif self.upload_prefix:
            grants["s3:PutObject"] = {f"arn:aws:s3:::{self.bucket}/{self.upload_prefix}*"}
        for action, paths in self.search_paths(function).items():
            grants[action] = {f"{self.domain_arn}/{path}" for path in paths}
        return grants

    def search_paths(self, function: str) -> dict[str, set[str]]:
        if not self.domain_arn:
            return {}
        alias = self.alias
        if function == INDEXER:
            return {
                "es:ESHttpPost": {f"{alias}/_mget", f"{alias}/_bulk"},
                "es:ESHttpPut": {
                    f"_template/{alias}",
                    f"{alias}-v{MAPPING_VERSION}",
                    f"{alias}/_mapping",
                    f"{alias}/_doc/_mapping",
                },
                "es:ESHttpHead": {f"_alias/{alias}"},
                "es:ESHttpGet": {f"_cluster/health/{alias}", ""},  # GET /: the engine
            }
        return {
            "es:ESHttpPost": {
                f"{alias}/_search",
                f"{alias}/_count",
                f"{alias}/_mget",
                # label counts over every image: names counted, term statistics (6.x: typed)
                f"{alias}/_msearch",
                f"{alias}/_termvectors",
                f"{alias}/_doc/_termvectors",
            },
            # GET /: the engine's version; GET _alias: the mapping version behind the alias
            "es:ESHttpGet": {f"{alias}/_doc/*", f"_alias/{alias}", ""},
            "es:ESHttpHead": {""},  # HEAD / is authorized against "domain/<name>/"
        }


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def granted(document: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for statement in document["Statement"]:
        for action in _as_list(statement["Action"]):
            found.setdefault(action, set()).update(_as_list(statement["Resource"]))
    return found


def violations(document: dict, expected: Expected, function: str) -> list[str]:
    problems = []
    if document.get("Version") != "2012-10-17":
        problems.append(f"Version is {document.get('Version')}")
    sids = [statement.get("Sid") for statement in document["Statement"]]
    if len(set(sids)) != len(sids):
        problems.append(f"Sids are not unique: {sids}")
    for statement in document["Statement"]:
        if statement.get("Effect") != "Allow":
            problems.append(f"{statement.get('Sid')}: Effect {statement.get('Effect')}")
        for key in ("NotAction", "NotResource", "NotPrincipal", "Principal", "Condition"):
            if key in statement:
                problems.append(f"{statement.get('Sid')}: uses {key}")
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        for action in actions:
            if "*" in action or "?" in action:
                problems.append(f"{statement.get('Sid')}: wildcard action {action}")
        if "*" in resources and not all(a.startswith("rekognition:") for a in actions):
            problems.append(f"{statement.get('Sid')}: Resource * for {actions}")
    allowed = expected.allowed(function)
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
