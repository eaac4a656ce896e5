"""One least-privilege policy per Lambda function, rendered per stage.

The stack has one role per function (``IndexerRole`` and ``ApiRole`` in infra/template.yaml),
each carrying exactly one of these documents: deploy renders them, writes them to
``.chalice/policy-<stage>-<function>.json`` for review and passes the same JSON to the stack as
``IndexerPolicyDocument`` / ``ApiPolicyDocument``. Nothing else grants the functions anything:
the domain's access policy names only the admins (infra/template.yaml says why).

The indexer (``<app>-<stage>-index_images``, the SQS handler):

* ``rekognition:DetectLabels`` (+ ``DetectText`` / ``DetectModerationLabels`` / ``DetectFaces``
  only when the stage turns them on). Rekognition's Detect* actions have no resource-level
  permissions, so ``"Resource": "*"`` is the only possible form.
* ``s3:GetObject`` and ``s3:GetObjectVersion`` on the image bucket's objects: Rekognition reads
  the object (by version when the event names one) with the caller's permissions.
* ``sqs:ReceiveMessage/DeleteMessage/GetQueueAttributes/ChangeMessageVisibility`` on the upload
  queue: what the Lambda event source mapping needs. With a Rekognition quota (REKOGNITION_TPS)
  also ``sqs:SendMessage`` (which SendMessageBatch needs) and ``sqs:GetQueueUrl`` on that queue
  only: a message still throttled after the retries goes back to it as a delayed copy
  (chalicelib/redelivery.py).
* On the domain, only the requests chalicelib/store/elasticsearch_store.py makes when indexing
  (elasticsearch-py 7.13 methods and paths): ``POST /<alias>/_mget`` (stored versions) and
  ``POST /<alias>/_bulk`` (the conditional writes), plus ``ensure_ready()``, which ``write()``
  runs once per instance: ``PUT /_template/<alias>``, ``HEAD /_alias/<alias>`` and, only when
  the alias is missing, ``PUT /<alias>-v<N>`` and ``GET /_cluster/health/<alias>``, or, when
  it exists, ``PUT /<alias>/_mapping`` (``/<alias>/_doc/_mapping`` on Elasticsearch 6.x: the
  derived band fields added to an index of an older mapping until its migration); and
  ``GET /``, the engine's version, read once (chalicelib/store/engine.py).
* ``logs:CreateLogStream/PutLogEvents`` on its own log group.

The API function (``<app>-<stage>``):

* On the domain, reads only: ``POST /<alias>/_search`` (search and label counts),
  ``POST /<alias>/_msearch`` and ``POST /<alias>/_termvectors`` (``/<alias>/_doc/_termvectors``
  on Elasticsearch 6.x; label counts over every image, chalicelib/store/label_ranking.py),
  ``GET /<alias>/_doc/<id>``, ``POST /<alias>/_mget``, ``POST /<alias>/_count`` and the health
  check's ``HEAD /`` (``ping()``), ``GET /`` (the engine's version, once) and
  ``GET /_alias/<alias>`` (the mapping version the queries may use, once). No ``PUT``, no
  ``DELETE``, no ``POST`` on any other path.
* ``s3:GetObject`` and ``s3:GetObjectVersion`` on the bucket's objects: presigned GET URLs carry
  the signer's permissions, and they name the version when the document has one.
  ``s3:PutObject`` on the upload prefix only when the stage enables browser uploads
  (``UPLOAD_BUCKET``): presigned POST forms carry the role's permission too.
* ``logs:CreateLogStream/PutLogEvents`` on its own log group. No SQS, no Rekognition.

The log groups are created by deploy (localdev/aws/log_groups.py), so neither role needs
``logs:CreateLogGroup``. Domain statements exist only when the cluster is an AWS domain (a
self-managed endpoint authenticates otherwise).

Limit: the domain authorizes by URL path. A ``_bulk``, ``_mget`` or ``_msearch`` body may still
name another index in ``_index`` unless the domain's advanced option
``rest.action.multi.allow_explicit_index`` is ``false`` (developer guide, "Advanced options and
API considerations").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from chalicelib.settings import Settings
from chalicelib.store.mapping import versioned_index

REKOGNITION_ACTIONS = {
    "detect_text": "rekognition:DetectText",
    "detect_moderation_labels": "rekognition:DetectModerationLabels",
    "detect_faces": "rekognition:DetectFaces",
}
QUEUE_ACTIONS = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
]
# Sending a throttled message back (chalicelib/redelivery.py), under a quota only.
REDELIVERY_ACTIONS = ["sqs:SendMessage", "sqs:GetQueueUrl"]
LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
READ_OBJECT_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion"]
# Chalice's names for the two functions (chalice/deploy/appgraph.py): the keys of
# stages.<stage>.lambda_functions in .chalice/config.json.
API_HANDLER = "api_handler"
INDEX_HANDLER = "index_images"
FUNCTIONS = (API_HANDLER, INDEX_HANDLER)
DEFAULT_INDEX_ALIAS = Settings.index_alias


def function_names(app_name: str, stage: str) -> list[str]:
    """The deployed names of this app's functions: the API handler and the SQS handler.

    (chalice/deploy/appgraph.py: ``<app>-<stage>`` for the API, ``<app>-<stage>-<handler>``
    for event handlers.) Deploy creates one log group for each.
    """
    return [deployed_name(app_name, stage, function) for function in FUNCTIONS]


def deployed_name(app_name: str, stage: str, function: str) -> str:
    if function == API_HANDLER:
        return f"{app_name}-{stage}"
    return f"{app_name}-{stage}-{function}"


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
    index_alias: str = DEFAULT_INDEX_ALIAS
    redelivers_throttled: bool = False  # set when the stage has REKOGNITION_TPS

    @property
    def queue_arn(self) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{self.queue_name}"

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    def log_group_arn(self, function: str) -> str:
        name = deployed_name(self.app_name, self.stage, function)
        return (
            f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:/aws/lambda/{name}"
        )

    def domain_path(self, path: str) -> str:
        """The resource ARN OpenSearch Service authorizes a request to ``/<path>`` against."""
        assert self.domain_arn
        return f"{self.domain_arn}/{path}"


def _own_logs(inputs: PolicyInputs, function: str) -> dict:
    return {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": LOG_ACTIONS,
        "Resource": f"{inputs.log_group_arn(function)}:*",
    }


def _domain_statement(sid: str, action: str, inputs: PolicyInputs, paths: list[str]) -> dict:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": [action],
        "Resource": [inputs.domain_path(path) for path in paths],
    }


def build_indexer_policy(inputs: PolicyInputs) -> dict:
    rekognition = ["rekognition:DetectLabels"] + [
        action for flag, action in REKOGNITION_ACTIONS.items() if getattr(inputs, flag)
    ]
    statements = [
        _own_logs(inputs, INDEX_HANDLER),
        {"Sid": "LabelImages", "Effect": "Allow", "Action": rekognition, "Resource": "*"},
        {
            "Sid": "ReadImages",
            "Effect": "Allow",
            "Action": READ_OBJECT_ACTIONS,
            "Resource": f"{inputs.bucket_arn}/*",
        },
        {
            "Sid": "ConsumeUploadEvents",
            "Effect": "Allow",
            "Action": QUEUE_ACTIONS,
            "Resource": inputs.queue_arn,
        },
    ]
    if inputs.redelivers_throttled:
        statements.append(
            {
                "Sid": "SendThrottledMessagesBack",
                "Effect": "Allow",
                "Action": REDELIVERY_ACTIONS,
                "Resource": inputs.queue_arn,
            }
        )
    if inputs.domain_arn:
        alias = inputs.index_alias
        statements += [
            _domain_statement(
                "WriteImageIndex",
                "es:ESHttpPost",
                inputs,
                [f"{alias}/_mget", f"{alias}/_bulk"],
            ),
            # ensure_ready(): the template on every cold start, the index only if it is missing.
            _domain_statement(
                "EnsureIndexTemplateAndIndex",
                "es:ESHttpPut",
                inputs,
                [
                    f"_template/{alias}",
                    versioned_index(alias),
                    f"{alias}/_mapping",
                    f"{alias}/_doc/_mapping",
                ],
            ),
            _domain_statement("CheckAlias", "es:ESHttpHead", inputs, [f"_alias/{alias}"]),
            _domain_statement(
                "WaitForNewIndex", "es:ESHttpGet", inputs, [f"_cluster/health/{alias}"]
            ),
            _detect_engine(inputs),
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def build_api_policy(inputs: PolicyInputs) -> dict:
    statements = [
        _own_logs(inputs, API_HANDLER),
        {
            "Sid": "PresignImageLinks",
            "Effect": "Allow",
            "Action": READ_OBJECT_ACTIONS,
            "Resource": f"{inputs.bucket_arn}/*",
        },
    ]
    if inputs.upload_prefix:
        statements.append(
            {
                "Sid": "PresignUploads",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": f"{inputs.bucket_arn}/{inputs.upload_prefix}*",
            }
        )
    if inputs.domain_arn:
        alias = inputs.index_alias
        statements += [
            _domain_statement(
                "SearchCountAndMultiGet",
                "es:ESHttpPost",
                inputs,
                [
                    f"{alias}/_search",
                    f"{alias}/_count",
                    f"{alias}/_mget",
                    f"{alias}/_msearch",
                    f"{alias}/_termvectors",
                    f"{alias}/_doc/_termvectors",
                ],
            ),
            _domain_statement(
                "GetImageAndMappingVersion",
                "es:ESHttpGet",
                inputs,
                [f"{alias}/_doc/*", f"_alias/{alias}"],
            ),
            # ping(): HEAD / is authorized against the domain ARN with a trailing slash.
            _domain_statement("HealthPing", "es:ESHttpHead", inputs, [""]),
            _detect_engine(inputs),
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def _detect_engine(inputs: PolicyInputs) -> dict:
    """``GET /``: both functions read the engine's version once (chalicelib/store/engine.py)."""
    return _domain_statement("DetectEngine", "es:ESHttpGet", inputs, [""])


def build_policies(inputs: PolicyInputs) -> dict[str, dict]:
    """Chalice function name -> its role's only policy."""
    return {API_HANDLER: build_api_policy(inputs), INDEX_HANDLER: build_indexer_policy(inputs)}


def policy_file_name(stage: str, function: str) -> str:
    return f"policy-{stage}-{function}.json"


def policy_path(project_dir: Path, stage: str, function: str) -> Path:
    return project_dir / ".chalice" / policy_file_name(stage, function)


def render(policy: dict) -> str:
    """The file form: indented, one action per line, trailing newline (stable diffs)."""
    return json.dumps(policy, indent=2) + "\n"


def compact(policy: dict) -> str:
    """The stack parameter form (CloudFormation parameters are limited to 4 KB)."""
    return json.dumps(policy, separators=(",", ":"))


def write_policy(project_dir: Path, stage: str, function: str, policy: dict) -> tuple[Path, bool]:
    """Writes the file when its content changes; returns the path and whether it did."""
    path = policy_path(project_dir, stage, function)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render(policy)
    if path.exists() and path.read_text() == text:
        return path, False
    path.write_text(text)
    return path, True


@dataclass(frozen=True)
class PolicyFiles:
    """The stage's written policy files: chalice function name -> (path, whether written)."""

    files: dict[str, tuple[Path, bool]]

    @property
    def name(self) -> dict[str, str]:
        """Function -> file name, as config.json's per-function ``iam_policy_file`` names it."""
        return {function: path.name for function, (path, _) in self.files.items()}

    def __str__(self) -> str:
        return ", ".join(str(path) for path, _ in self.files.values())


def write_policies(project_dir: Path, stage: str, documents: dict[str, dict]) -> PolicyFiles:
    return PolicyFiles(
        {
            function: write_policy(project_dir, stage, function, document)
            for function, document in documents.items()
        }
    )
