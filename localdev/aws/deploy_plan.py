"""What a deploy does, decided from in-memory inputs only: no AWS calls and no file reads here.

``localdev/aws/deploy.py`` reads the inputs (the stack as it was found, the stage's chalice
config, the caller, an ``--existing-domain`` as AWS describes it), hands them to ``decide`` and
runs the plan's steps in order. Keeping the decisions pure lets tests cover every branch with
plain values, the way chalice tests its own planner (chalice/deploy/planner.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from chalicelib.settings import API_AUTH_MODES
from localdev.aws import policy, preflight, stack
from localdev.aws.context import DeployError
from localdev.aws.policy import PolicyInputs

API_AUTH_CHOICES = API_AUTH_MODES
# AWS recommends a queue visibility timeout of six times the function timeout (plus the
# batching window), so a throttled or retried invocation does not see its messages reappear.
VISIBILITY_FACTOR = preflight.VISIBILITY_FACTOR
DEFAULT_MAX_RECEIVE_COUNT = 5


@dataclass
class DeployOptions:
    bucket_name: str | None = None
    existing_domain: str | None = None
    search_endpoint: str | None = None
    create_domain: bool = False
    admin_arns: list[str] | None = None
    api_auth: str | None = None
    versioning: bool | None = None
    max_receive_count: int | None = None
    uploads: bool | None = None
    dashboards_url: str | None = None
    assume_yes: bool = False
    public_uploads: bool = False  # uploads on an API_AUTH=none stage: refused unless set
    stack_only: bool = False  # the supporting stack and the index, no functions (SAM/CDK users)
    allow_broad_admins: bool = False  # account roots, other accounts or '*' as domain admins
    alarm_email: str | None = None  # None keeps the stack's address; "" removes the SNS topic


@dataclass(frozen=True)
class SearchTarget:
    endpoint: str  # "" = the stack creates a domain
    domain_arn: str | None
    engine_version: str | None = None

    @property
    def creates_domain(self) -> bool:
        return not self.endpoint


@dataclass(frozen=True)
class StageConfig:
    """What the plan needs from the stage's ``.chalice/config.json`` (deploy.stage_config)."""

    api_auth: str | None  # API_AUTH, None when unset
    uploads: bool  # UPLOAD_BUCKET is set
    upload_prefix: str
    index_timeout_seconds: int  # the indexer's lambda_timeout
    batching_window_seconds: int = 0
    index_replicas: int = 0
    detect_text: bool = False
    detect_moderation_labels: bool = False
    detect_faces: bool = False
    index_alias: str = policy.DEFAULT_INDEX_ALIAS
    rekognition_quota: bool = False  # REKOGNITION_TPS is set


@dataclass(frozen=True)
class Caller:
    """Where the deploy goes and who runs it (from STS and IAM)."""

    partition: str
    region: str
    account: str
    principal_arn: str  # the caller as a resource-policy principal


@dataclass(frozen=True)
class PlanInputs:
    app_name: str
    stage: str
    caller: Caller
    config: StageConfig
    stack: dict[str, Any] | None  # the stage's stack as it was found, None before the first
    existing_domain: SearchTarget | None = None  # --existing-domain, as AWS describes it

    @property
    def domain_name(self) -> str:
        return f"{self.app_name}-{self.stage}"


class Step(StrEnum):
    """The deploy's steps, in the order they run (deploy.STEPS does each)."""

    ANNOUNCE = "announce"
    CONFIRM_CREATION = "confirm creation"  # a first deploy without --yes asks first
    REFUSE = "refuse"  # the plan needs --yes (Plan.refusal says why); nothing has changed yet
    WORKSPACE = "workspace"
    POLICIES = "role policies"
    STACK = "stack"
    LOG_GROUPS = "log groups"
    STAGE_CONFIG = "stage config"
    CHALICE_STATE = "chalice state"
    CHALICE_DEPLOY = "chalice deploy"
    PARTIAL_BATCHES = "partial batches"
    API_ACCESS = "api access"
    UPLOAD_ORIGIN = "upload origin"
    INDEX = "index"
    SAVED_OBJECTS = "saved objects"
    SUMMARY = "summary"
    STACK_ONLY_SUMMARY = "stack-only summary"


@dataclass(frozen=True)
class Plan:
    """Everything deploy decides before it changes anything."""

    stack: dict[str, Any] | None  # the stack as it was found, None before the first deploy
    deletes_domain: bool  # the stack owns a domain and this deploy switches to another cluster
    api_auth: str
    uploads: bool
    search: SearchTarget
    policies: Mapping[str, dict]  # chalice function name -> the only policy of its role
    params: Mapping[str, str]  # the stack's parameters
    tags: Mapping[str, str]
    steps: tuple[Step, ...] = ()
    refusal: str | None = None  # why Step.REFUSE stops the deploy
    # Without REKOGNITION_TPS the event source has no concurrency bound, so deploy clears one
    # that chalice left from an earlier quota (event_source.py).
    clears_concurrency_bound: bool = True

    @property
    def exists(self) -> bool:
        return self.stack is not None


def decide(inputs: PlanInputs, options: DeployOptions) -> Plan:
    """Options win over what the stack was last deployed with, which wins over defaults."""
    config, existing = inputs.config, inputs.stack
    previous = stack.parameters(existing)
    api_auth = options.api_auth or stack.api_auth(existing, config.api_auth)
    if api_auth not in API_AUTH_CHOICES:
        raise DeployError(f"API_AUTH must be one of {', '.join(API_AUTH_CHOICES)}, got {api_auth}")
    bucket = options.bucket_name or previous.get("BucketName") or default_bucket_name(inputs)
    search = resolve_search(inputs, options, previous)
    uploads = _uploads(inputs, options)
    documents = policy.build_policies(_policy_inputs(inputs, bucket, search, uploads))
    params = {
        "AppName": inputs.app_name,
        "Stage": inputs.stage,
        "BucketName": bucket,
        "BucketVersioning": _bool_param(_versioning(options, previous)),
        "QueueVisibilityTimeout": str(
            VISIBILITY_FACTOR * config.index_timeout_seconds + config.batching_window_seconds
        ),
        "MaxReceiveCount": str(
            options.max_receive_count
            or previous.get("MaxReceiveCount")
            or DEFAULT_MAX_RECEIVE_COUNT
        ),
        "IndexerPolicyDocument": policy.compact(documents[policy.INDEX_HANDLER]),
        "ApiPolicyDocument": policy.compact(documents[policy.API_HANDLER]),
        "AdminPrincipalArns": ",".join(_admins(inputs, options, previous)),
        "ExistingSearchEndpoint": search.endpoint,
        "ExistingDomainArn": search.domain_arn if search.endpoint and search.domain_arn else "",
        "SearchDomainName": "" if search.endpoint else inputs.domain_name,
        "UploadCorsOrigin": previous.get("UploadCorsOrigin", "") if uploads else "",
        "AlarmEmail": previous.get("AlarmEmail", "")
        if options.alarm_email is None
        else options.alarm_email.strip(),
        **domain_size(config.index_replicas),
    }
    deletes_domain = bool(
        existing and not previous.get("ExistingSearchEndpoint") and search.endpoint
    )
    refusal = (
        f"switching to {search.endpoint} deletes the stack's OpenSearch domain and its index; "
        "pass --yes to do that (make deploy DEPLOY_ARGS=--yes)"
        if deletes_domain and not options.assume_yes
        else None
    )
    return Plan(
        stack=existing,
        deletes_domain=deletes_domain,
        api_auth=api_auth,
        uploads=uploads,
        search=search,
        policies=documents,
        params=params,
        tags={
            "app": inputs.app_name,
            "stage": inputs.stage,
            stack.API_AUTH_TAG: api_auth,
            stack.UPLOADS_TAG: _bool_param(uploads),
        },
        steps=steps_for(
            creates_stack=existing is None,
            refused=refusal is not None,
            uploads=uploads,
            options=options,
        ),
        refusal=refusal,
        clears_concurrency_bound=not config.rekognition_quota,
    )


def steps_for(
    *, creates_stack: bool, refused: bool, uploads: bool, options: DeployOptions
) -> tuple[Step, ...]:
    """The steps in order: the checks that may stop the deploy, the stack, then the functions
    (none with --stack-only, whose users deploy them with SAM or CDK)."""
    checks = [Step.ANNOUNCE]
    if creates_stack and not options.assume_yes:
        checks.append(Step.CONFIRM_CREATION)
    if refused:
        return (*checks, Step.REFUSE)
    supporting = (Step.WORKSPACE, Step.POLICIES, Step.STACK, Step.LOG_GROUPS, Step.STAGE_CONFIG)
    if options.stack_only:
        return (*checks, *supporting, Step.INDEX, Step.STACK_ONLY_SUMMARY)
    functions = [Step.CHALICE_STATE, Step.CHALICE_DEPLOY, Step.PARTIAL_BATCHES, Step.API_ACCESS]
    if uploads:
        functions.append(Step.UPLOAD_ORIGIN)
    return (*checks, *supporting, *functions, Step.INDEX, Step.SAVED_OBJECTS, Step.SUMMARY)


def resolve_search(
    inputs: PlanInputs, options: DeployOptions, previous: Mapping[str, str]
) -> SearchTarget:
    """Which cluster: a new domain (default), an existing AWS domain, or any other endpoint."""
    if options.existing_domain:
        if inputs.existing_domain is None:
            raise ValueError("PlanInputs.existing_domain: describe --existing-domain first")
        return inputs.existing_domain
    if options.search_endpoint:
        host = urlsplit(options.search_endpoint).hostname or ""
        if host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn"):
            raise DeployError(
                "for an Amazon OpenSearch Service domain pass --existing-domain NAME, so the "
                "role policy can name the domain's ARN"
            )
        return SearchTarget(endpoint=options.search_endpoint.rstrip("/"), domain_arn=None)
    if not options.create_domain and previous.get("ExistingSearchEndpoint"):
        return SearchTarget(
            endpoint=previous["ExistingSearchEndpoint"],
            domain_arn=previous.get("ExistingDomainArn") or None,
        )
    caller = inputs.caller
    arn = f"arn:{caller.partition}:es:{caller.region}:{caller.account}:domain/{inputs.domain_name}"
    return SearchTarget(endpoint="", domain_arn=arn, engine_version=None)


def domain_size(replicas: int) -> dict[str, str]:
    """Nodes for a green cluster: a replica needs a node of its own, or the index stays yellow.

    Stages with replicas (prod) get an even number of nodes in two Availability Zones, so each
    shard and its copy live in different zones; stages without (dev) one node.
    """
    if replicas < 1:
        return {"SearchInstanceCount": "1", "SearchZoneAwareness": "false"}
    nodes = replicas + 1 + (replicas + 1) % 2
    return {"SearchInstanceCount": str(nodes), "SearchZoneAwareness": "true"}


def default_bucket_name(inputs: PlanInputs) -> str:
    caller = inputs.caller
    return f"{inputs.app_name}-{inputs.stage}-{caller.account}-{caller.region}"


def preflight_inputs(decided: Plan, options: DeployOptions) -> preflight.Inputs:
    return preflight.Inputs(
        stack=decided.stack,
        bucket=decided.params["BucketName"],
        admin_arns=[a for a in decided.params["AdminPrincipalArns"].split(",") if a],
        creates_domain=decided.search.creates_domain,
        uses_aws_domain=bool(decided.search.domain_arn),
        api_auth=decided.api_auth,
        uploads=decided.uploads,
        public_uploads=options.public_uploads,
        allow_broad_admins=options.allow_broad_admins,
        alarm_email=decided.params["AlarmEmail"],
    )


def _admins(inputs: PlanInputs, options: DeployOptions, previous: Mapping[str, str]) -> list[str]:
    """The domain's admins: as given, else the stack's plus the caller (who sets up the index)."""
    if options.admin_arns is not None:
        return options.admin_arns
    admins = [a for a in previous.get("AdminPrincipalArns", "").split(",") if a]
    if inputs.caller.principal_arn not in admins:
        admins.append(inputs.caller.principal_arn)
    return admins


def _uploads(inputs: PlanInputs, options: DeployOptions) -> bool:
    """The option, else the choice the stack's tag remembers, else the stage's UPLOAD_BUCKET."""
    if options.uploads is not None:
        return options.uploads
    # The stack's tags remember the choices of the last deploy, from whichever clone it ran.
    chosen = stack.tags(inputs.stack)
    if stack.UPLOADS_TAG in chosen:
        return chosen[stack.UPLOADS_TAG] == "true"
    return inputs.config.uploads


def _versioning(options: DeployOptions, previous: Mapping[str, str]) -> bool:
    if options.versioning is not None:
        return options.versioning
    return previous.get("BucketVersioning") == "true"


def _policy_inputs(
    inputs: PlanInputs, bucket: str, search: SearchTarget, uploads: bool
) -> PolicyInputs:
    config, caller = inputs.config, inputs.caller
    return PolicyInputs(
        partition=caller.partition,
        region=caller.region,
        account=caller.account,
        app_name=inputs.app_name,
        stage=inputs.stage,
        bucket=bucket,
        queue_name=f"{inputs.app_name}-{inputs.stage}-uploads",
        domain_arn=search.domain_arn,
        detect_text=config.detect_text,
        detect_moderation_labels=config.detect_moderation_labels,
        detect_faces=config.detect_faces,
        upload_prefix=config.upload_prefix if uploads else None,
        index_alias=config.index_alias,
        redelivers_throttled=config.rekognition_quota,
    )


def _bool_param(value: bool) -> str:
    return "true" if value else "false"
