"""``deploy``: stack, stage config, least-privilege policy, chalice, partial batches, API key,
index, dashboards. Every step converges, so running it again is safe and cheap.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from localdev.aws import (
    api_keys,
    chalice_config,
    dashboards,
    discovery,
    event_source,
    log_groups,
    policy,
    preflight,
    stack,
    workspace,
)
from localdev.aws.context import Context, DeployError
from localdev.aws.policy import PolicyInputs

API_AUTH_CHOICES = ("iam", "api_key", "none")
# AWS recommends a queue visibility timeout of six times the function timeout (plus the
# batching window), so a throttled or retried invocation does not see its messages reappear.
VISIBILITY_FACTOR = preflight.VISIBILITY_FACTOR
LOG_RETENTION_DAYS = 14
CURSOR_SECRET_BYTES = 32  # token_urlsafe: 43 characters, above Settings' minimum of 32
DEFAULT_UPLOAD_PREFIX = "uploads/"
INDEX_ATTEMPTS = 8  # about four minutes of backoff


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


@dataclass
class DeployResult:
    stack_outputs: dict[str, str]
    api_auth: str
    policy_path: str  # the stage's policy files, one per function (str of policy.PolicyFiles)
    api_url: str | None = None
    api_key_id: str | None = None
    dashboards_url: str | None = None
    event_source_mappings: list[dict] = field(default_factory=list)


# -- chalice -------------------------------------------------------------------------------------


def run_chalice(ctx: Context, *args: str, cwd: Path | None = None) -> None:
    """Runs the chalice CLI of this interpreter in ``cwd`` (the project), printing as it goes."""
    command = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())"]
    ctx.detail(f"$ chalice {' '.join(args)}")
    with subprocess.Popen(
        [*command, *args],
        cwd=cwd or ctx.project_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            ctx.detail(f"  {line.rstrip()}")
    if process.returncode != 0:
        raise DeployError(f"chalice {args[0]} failed with exit code {process.returncode}")


# -- inputs --------------------------------------------------------------------------------------


def resolve_search(ctx: Context, options: DeployOptions, previous: dict[str, str]) -> SearchTarget:
    """Which cluster: a new domain (default), an existing AWS domain, or any other endpoint."""
    if options.existing_domain:
        return describe_existing_domain(ctx, options.existing_domain)
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
    name = domain_name(ctx)
    arn = f"arn:{ctx.partition}:es:{ctx.region}:{ctx.account}:domain/{name}"
    return SearchTarget(endpoint="", domain_arn=arn, engine_version=None)


def describe_existing_domain(ctx: Context, name: str) -> SearchTarget:
    try:
        status = ctx.client("opensearch").describe_domain(DomainName=name)["DomainStatus"]
    except ClientError as error:
        raise DeployError(f"cannot use domain {name!r}: {error}") from None
    endpoint = status.get("Endpoint") or status.get("EndpointV2")
    if not endpoint:
        raise DeployError(
            f"domain {name!r} has no public endpoint (a VPC domain needs the functions in the "
            "VPC, which this deploy does not configure) or is still being created"
        )
    return SearchTarget(
        endpoint=f"https://{endpoint}",
        domain_arn=status["ARN"],
        engine_version=status.get("EngineVersion"),
    )


def domain_name(ctx: Context) -> str:
    return f"{ctx.app_name}-{ctx.stage}"


def domain_size(replicas: int) -> dict[str, str]:
    """Nodes for a green cluster: a replica needs a node of its own, or the index stays yellow.

    Stages with replicas (prod) get an even number of nodes in two Availability Zones, so each
    shard and its copy live in different zones; stages without (dev) one node.
    """
    if replicas < 1:
        return {"SearchInstanceCount": "1", "SearchZoneAwareness": "false"}
    nodes = replicas + 1 + (replicas + 1) % 2
    return {"SearchInstanceCount": str(nodes), "SearchZoneAwareness": "true"}


def default_bucket_name(ctx: Context) -> str:
    return f"{ctx.app_name}-{ctx.stage}-{ctx.account}-{ctx.region}"


def _bool_param(value: bool) -> str:
    return "true" if value else "false"


# -- deploy --------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Everything deploy decides before it changes anything."""

    stack: dict | None  # the stack as it was found, None before the first deploy
    deletes_domain: bool  # the stack owns a domain and this deploy switches to another cluster
    api_auth: str
    uploads: bool
    search: SearchTarget
    policies: dict[str, dict]  # chalice function name -> the only policy of its role
    params: dict[str, str]
    tags: dict[str, str]

    @property
    def exists(self) -> bool:
        return self.stack is not None

    @property
    def policy_document(self) -> dict[str, dict]:
        """What deploy() hands to _write_policy: every function's document."""
        return self.policies


def plan(ctx: Context, options: DeployOptions) -> Plan:
    """Options win over what the stack was last deployed with, which wins over defaults."""
    view = ctx.stage_view()
    existing = stack.describe(ctx.client("cloudformation"), ctx.stack_name)
    previous = stack.parameters(existing)
    # The stack's tags remember the choices of the last deploy, from whichever clone it ran.
    chosen = stack.tags(existing)

    api_auth = options.api_auth or stack.api_auth(existing, view.environment.get("API_AUTH"))
    if api_auth not in API_AUTH_CHOICES:
        raise DeployError(f"API_AUTH must be one of {', '.join(API_AUTH_CHOICES)}, got {api_auth}")
    bucket = options.bucket_name or previous.get("BucketName") or default_bucket_name(ctx)
    search = resolve_search(ctx, options, previous)
    admins = options.admin_arns
    if admins is None:
        admins = [a for a in previous.get("AdminPrincipalArns", "").split(",") if a]
        if ctx.caller_principal_arn not in admins:
            admins.append(ctx.caller_principal_arn)
    if options.uploads is not None:
        uploads = options.uploads
    elif stack.UPLOADS_TAG in chosen:
        uploads = chosen[stack.UPLOADS_TAG] == "true"
    else:
        uploads = bool(view.environment.get("UPLOAD_BUCKET", "").strip())
    upload_prefix = view.environment.get("UPLOAD_PREFIX") or DEFAULT_UPLOAD_PREFIX
    versioning = (
        options.versioning
        if options.versioning is not None
        else previous.get("BucketVersioning") == "true"
    )
    batching_window = view.int_value("MAX_BATCHING_WINDOW_SECONDS", 0)
    visibility = VISIBILITY_FACTOR * view.index_timeout + batching_window
    documents = policy.build_policies(
        PolicyInputs(
            partition=ctx.partition,
            region=ctx.region,
            account=ctx.account,
            app_name=ctx.app_name,
            stage=ctx.stage,
            bucket=bucket,
            queue_name=f"{ctx.app_name}-{ctx.stage}-uploads",
            domain_arn=search.domain_arn,
            detect_text=view.flag("DETECT_TEXT"),
            detect_moderation_labels=view.flag("DETECT_MODERATION_LABELS"),
            detect_faces=view.flag("DETECT_FACES"),
            upload_prefix=upload_prefix if uploads else None,
            index_alias=view.environment.get("INDEX_ALIAS", "").strip()
            or policy.DEFAULT_INDEX_ALIAS,
            redelivers_throttled=bool(view.environment.get("REKOGNITION_TPS", "").strip()),
        )
    )
    params = {
        "AppName": ctx.app_name,
        "Stage": ctx.stage,
        "BucketName": bucket,
        "BucketVersioning": _bool_param(versioning),
        "QueueVisibilityTimeout": str(visibility),
        "MaxReceiveCount": str(options.max_receive_count or previous.get("MaxReceiveCount") or 5),
        "IndexerPolicyDocument": policy.compact(documents[policy.INDEX_HANDLER]),
        "ApiPolicyDocument": policy.compact(documents[policy.API_HANDLER]),
        "AdminPrincipalArns": ",".join(admins),
        "ExistingSearchEndpoint": search.endpoint,
        "ExistingDomainArn": search.domain_arn if search.endpoint and search.domain_arn else "",
        "SearchDomainName": "" if search.endpoint else domain_name(ctx),
        "UploadCorsOrigin": previous.get("UploadCorsOrigin", "") if uploads else "",
        "AlarmEmail": previous.get("AlarmEmail", "")
        if options.alarm_email is None
        else options.alarm_email.strip(),
        **domain_size(view.int_value("INDEX_REPLICAS", 0)),
    }
    return Plan(
        stack=existing,
        deletes_domain=bool(
            existing and not previous.get("ExistingSearchEndpoint") and search.endpoint
        ),
        api_auth=api_auth,
        uploads=uploads,
        search=search,
        policies=documents,
        params=params,
        tags={
            "app": ctx.app_name,
            "stage": ctx.stage,
            stack.API_AUTH_TAG: api_auth,
            stack.UPLOADS_TAG: _bool_param(uploads),
        },
    )


def preflight_inputs(decided: Plan, options: DeployOptions) -> preflight.Inputs:
    return preflight.Inputs(
        stack=decided.stack,
        bucket=decided.params["BucketName"],
        admin_arns=[a for a in decided.params["AdminPrincipalArns"].split(",") if a],
        creates_domain=not decided.search.endpoint,
        uses_aws_domain=bool(decided.search.domain_arn),
        api_auth=decided.api_auth,
        uploads=decided.uploads,
        public_uploads=options.public_uploads,
        allow_broad_admins=options.allow_broad_admins,
        alarm_email=decided.params["AlarmEmail"],
    )


def checked_plan(ctx: Context, options: DeployOptions) -> Plan:
    """The plan, after every preflight check passed (PreflightFailed names each problem)."""
    access = preflight.check_access(ctx)
    if not access.ok:
        raise PreflightFailed(access)
    decided = plan(ctx, options)
    report = preflight.run(ctx, preflight_inputs(decided, options))
    for note in report.notes:
        ctx.detail(f"note: {note}")
    if not report.ok:
        raise PreflightFailed(report)
    return decided


class PreflightFailed(DeployError):
    def __init__(self, report: preflight.Report):
        self.report = report
        super().__init__(
            f"{len(report.problems)} problem(s) before anything was created:\n"
            + "\n".join(p.line() for p in report.problems)
        )


def deploy(ctx: Context, options: DeployOptions) -> DeployResult:
    ctx.step(f"Preflight for stage {ctx.stage}")
    decided = checked_plan(ctx, options)
    ctx.step(f"Deploying stage {ctx.stage} to account {ctx.account}, region {ctx.region}")
    if decided.api_auth == "none":
        ctx.detail("WARNING: API_AUTH=none: anyone with the URL can search the images")
    if not decided.exists and not options.assume_yes:
        _confirm_creation(ctx, decided.search)
    if decided.deletes_domain and not options.assume_yes:
        raise DeployError(
            f"switching to {decided.search.endpoint} deletes the stack's OpenSearch domain and "
            "its index; pass --yes to do that (make deploy DEPLOY_ARGS=--yes)"
        )
    workspace.prepare(ctx.project_dir, ctx.stage)
    policy_file = _write_policy(ctx, decided.policy_document)
    outputs = _deploy_stack(ctx, decided)
    _ensure_log_groups(ctx)
    _write_stage_config(ctx, decided, outputs, policy_file.name, cursor_secret(ctx))
    if options.stack_only:
        return _finish_stack_only(ctx, decided, outputs, str(policy_file))
    _restore_chalice_state(ctx, outputs["QueueArn"])
    ctx.step(f"chalice deploy --stage {ctx.stage}")
    run_chalice(ctx, "deploy", "--stage", ctx.stage, cwd=ctx.deploy_dir)
    resources = event_source.deployed_resources(ctx.deploy_dir, ctx.stage)
    _check_functions(ctx, resources)
    mappings = _enable_partial_batches(ctx, resources)
    api = event_source.rest_api(resources)
    api_url = api["rest_api_url"] if api else None
    key_id = _api_access(ctx, decided.api_auth, api)
    if decided.uploads and api_url:
        _allow_upload_origin(ctx, decided, api_url)
    _index_step(ctx, outputs["SearchEndpoint"])
    dashboards_link = _import_saved_objects(ctx, options, outputs, decided.search)
    _print_summary(ctx, api_url, decided.api_auth, key_id, dashboards_link, outputs)
    return DeployResult(
        stack_outputs=outputs,
        api_url=api_url,
        api_auth=decided.api_auth,
        api_key_id=key_id,
        dashboards_url=dashboards_link,
        event_source_mappings=mappings,
        policy_path=str(policy_file),
    )


def _finish_stack_only(ctx: Context, decided: Plan, outputs: dict, policy_path: str):
    """--stack-only: what a SAM or CDK deploy of the functions needs, and no functions."""
    _index_step(ctx, outputs["SearchEndpoint"])
    ctx.step("Stack ready; no functions deployed (--stack-only)")
    ctx.detail(f"package the functions with: make package STAGE={ctx.stage} (docs/package.md)")
    return DeployResult(stack_outputs=outputs, api_auth=decided.api_auth, policy_path=policy_path)


def _index_step(ctx: Context, endpoint: str) -> None:
    ctx.step(f"Index template and alias on {endpoint}")
    ctx.detail(f"alias {setup_index(ctx, endpoint)} ready")


# -- the steps -----------------------------------------------------------------------------------


def _write_policy(ctx: Context, documents: dict[str, dict]) -> policy.PolicyFiles:
    """One file per role, for review: .deploy/<stage>/.chalice/policy-<stage>-<function>.json."""
    written_files = policy.write_policies(ctx.deploy_dir, ctx.stage, documents)
    for function, (path, written) in written_files.files.items():
        relative = path.relative_to(ctx.project_dir)
        ctx.step(f"Role policy of {function}: {relative} {'written' if written else 'unchanged'}")
        for statement in documents[function]["Statement"]:
            ctx.detail(f"{statement['Sid']}: {', '.join(statement['Action'])}")
    return written_files


def _deploy_stack(ctx: Context, decided: Plan) -> dict[str, str]:
    cfn = ctx.client("cloudformation")
    ctx.step(f"Stack {ctx.stack_name}")
    if not decided.exists and not decided.search.endpoint:
        ctx.detail("a new OpenSearch domain takes 15-30 minutes to create")
    outcome = stack.deploy(
        cfn, ctx.stack_name, decided.params, decided.tags, ctx.waiting, ctx.detail
    )
    outputs = stack.outputs(stack.describe(cfn, ctx.stack_name))
    ctx.detail(f"{outcome}: bucket {outputs['BucketName']}, queue {outputs['QueueName']}")
    ctx.detail(f"search endpoint {outputs['SearchEndpoint']}")
    return outputs


def _ensure_log_groups(ctx: Context) -> None:
    """Before chalice creates the functions: the role may write to, never create, log groups."""
    ctx.step("Log groups")
    logs = ctx.client("logs")
    retention = LOG_RETENTION_DAYS
    for name in policy.function_names(ctx.app_name, ctx.stage):
        group = f"/aws/lambda/{name}"
        outcome = log_groups.ensure(
            logs, group, retention, {"app": ctx.app_name, "stage": ctx.stage}
        )
        ctx.detail(f"{group}: {outcome} (retention {retention} days)")


def cursor_secret(ctx: Context) -> str:
    """The stage's key for signing ``next`` cursors: the deployed one, else a new one.

    Read back from the API function, so a redeploy from any clone keeps the tokens that users
    hold valid; it lives only there and in the git-ignored .deploy/ folder. A new key (first
    deploy, or --stack-only) only makes cursors in flight a 400 naming ``next``.
    """
    try:
        configuration = ctx.client("lambda").get_function_configuration(
            FunctionName=ctx.names.api_function
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return secrets.token_urlsafe(CURSOR_SECRET_BYTES)
    variables = configuration.get("Environment", {}).get("Variables", {})
    return variables.get("CURSOR_SECRET") or secrets.token_urlsafe(CURSOR_SECRET_BYTES)


def _write_stage_config(
    ctx: Context,
    decided: Plan,
    outputs: dict[str, str],
    policy_files: dict[str, str],
    secret: str,
):
    """The stage's variables, and for each function its own role (and its policy's file).

    The roles are set per function (``stages.<stage>.lambda_functions.<function>``) and none
    per stage, so no function inherits another's role: chalice resolves ``iam_role_arn`` and
    ``manage_iam_role`` per function first (chalice/config.py ``_chain_lookup``), which is checked
    below with chalice's own ``Config``. ``policy_files`` is function -> policy file name.
    """
    from chalice.config import Config

    role_outputs = {policy.API_HANDLER: "ApiRoleArn", policy.INDEX_HANDLER: "IndexerRoleArn"}
    config = chalice_config.load(ctx.project_dir)
    chalice_config.update_stage(
        config,
        ctx.stage,
        environment={
            "QUEUE_NAME": outputs["QueueName"],
            "QUEUE_ARN": outputs["QueueArn"],
            "SEARCH_ENDPOINT": outputs["SearchEndpoint"],
            "IMAGE_BUCKET": outputs["BucketName"],
            "API_AUTH": decided.api_auth,
            "UPLOAD_BUCKET": outputs["BucketName"] if decided.uploads else None,
            "CURSOR_SECRET": secret,
            # The Stage dimension of the functions' metrics (chalicelib/metrics.py).
            "STAGE": ctx.stage,
        },
        # Removed from the stage: an earlier deploy set one role for every function there.
        settings={"manage_iam_role": None, "iam_role_arn": None, "iam_policy_file": None},
    )
    functions = config["stages"][ctx.stage].setdefault("lambda_functions", {})
    for function, output in role_outputs.items():
        functions.setdefault(function, {}).update(
            {
                "manage_iam_role": False,
                "iam_role_arn": outputs[output],
                "iam_policy_file": policy_files[function],
            }
        )
    for function, output in role_outputs.items():
        resolved = Config(chalice_stage=ctx.stage, function_name=function, config_from_disk=config)
        if resolved.manage_iam_role or resolved.iam_role_arn != outputs[output]:
            raise DeployError(
                f".chalice/config.json: chalice would give {function} the role "
                f"{resolved.iam_role_arn} (manage_iam_role={resolved.manage_iam_role}), "
                f"not {outputs[output]}"
            )
    changed = chalice_config.save(ctx.deploy_dir, config)
    relative = chalice_config.config_path(ctx.deploy_dir).relative_to(ctx.project_dir)
    ctx.step(f"{relative} stage {ctx.stage}: {'updated' if changed else 'unchanged'}")


def _restore_chalice_state(ctx: Context, queue_arn: str) -> discovery.StageResources:
    """Gives chalice the stage's existing resources, whichever clone deployed them."""
    names = ctx.names
    found = discovery.discover(ctx.client("lambda"), ctx.client("apigateway"), names, queue_arn)
    ctx.step("Existing resources of the stage")
    if found.empty:
        ctx.detail("none: chalice creates the functions, the REST API and the event source")
    for duplicate in found.duplicates:
        ctx.detail(f"duplicate: {duplicate}")
    for uuid in discovery.remove_duplicate_mappings(ctx.client("lambda"), found):
        ctx.detail(f"removed duplicate event source mapping {uuid}")
    if len(found.rest_api_ids) > 1:
        ctx.detail(
            f"keeping REST API {found.rest_api_ids[0]}; the others serve nothing of this stage "
            f"after this deploy: teardown removes them, or delete them by hand"
        )
    state = discovery.deployed_state(found, names, queue_arn)
    path = event_source.deployed_path(ctx.deploy_dir, ctx.stage)
    written = discovery.write_deployed_state(path, state)
    if state["resources"]:
        ctx.detail(
            f"{', '.join(r['name'] for r in state['resources'])}: "
            f"{'recorded for chalice' if written else 'as chalice recorded them'}"
        )
    return found


def _check_functions(ctx: Context, resources: list[dict]) -> None:
    deployed = sorted(
        event_source.function_name(r["lambda_arn"])
        for r in event_source.resources_of(resources, "lambda_function")
    )
    expected = sorted(policy.function_names(ctx.app_name, ctx.stage))
    if deployed != expected:
        raise DeployError(
            f"chalice deployed functions {deployed}, but the log groups and the role "
            f"policy cover {expected}: add the new function to localdev/aws/policy.py"
        )


def _enable_partial_batches(ctx: Context, resources: list[dict]) -> list[dict]:
    ctx.step("SQS event source: FunctionResponseTypes=ReportBatchItemFailures")
    mappings = event_source.enable_partial_batch_responses(ctx.client("lambda"), resources)
    if not ctx.stage_view().environment.get("REKOGNITION_TPS", "").strip():
        # Chalice leaves a bound from an earlier REKOGNITION_TPS in place (event_source.py).
        mappings = event_source.clear_maximum_concurrency(ctx.client("lambda"), mappings)
    for mapping in mappings:
        ctx.detail(
            f"{mapping['UUID']}: {mapping.get('State')}, batch size {mapping.get('BatchSize')}, "
            f"FunctionResponseTypes={mapping.get('FunctionResponseTypes')}"
        )
    return mappings


def _api_access(ctx: Context, api_auth: str, api: dict | None) -> str | None:
    apigateway = ctx.client("apigateway")
    if api_auth == "api_key" and api:
        access = api_keys.ensure(
            apigateway, ctx.resource_name, api["rest_api_id"], ctx.stage_view().api_gateway_stage
        )
        ctx.step(f"API key {access.key_id} in usage plan {access.usage_plan_id}")
        return access.key_id
    removed = api_keys.delete(apigateway, ctx.resource_name)
    if removed:
        ctx.step(f"API auth is {api_auth}: removed {', '.join(removed)}")
    if api_auth == "none" and api:
        api_keys.throttle_stage(apigateway, api["rest_api_id"], ctx.stage_view().api_gateway_stage)
        ctx.step(
            f"API auth is none: stage throttled to {api_keys.THROTTLE['rateLimit']:.0f} "
            f"requests/s (burst {api_keys.THROTTLE['burstLimit']})"
        )
    return None


def _allow_upload_origin(ctx: Context, decided: Plan, api_url: str) -> None:
    """Browser uploads: the bucket must accept cross-origin POSTs from the API's origin."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(api_url))
    if decided.params["UploadCorsOrigin"] == origin:
        return
    ctx.step(f"Bucket CORS for uploads from {origin}")
    decided.params["UploadCorsOrigin"] = origin
    stack.deploy(
        ctx.client("cloudformation"),
        ctx.stack_name,
        decided.params,
        decided.tags,
        ctx.waiting,
        ctx.detail,
    )


def _import_saved_objects(
    ctx: Context, options: DeployOptions, outputs: dict[str, str], search: SearchTarget
) -> str | None:
    base = options.dashboards_url or dashboards_base_for(ctx, outputs, search)
    if not base:
        ctx.step("Saved objects: no Dashboards URL for this endpoint (pass --dashboards-url)")
        return None
    ctx.step(f"Saved objects -> {base}")
    result = dashboards.import_saved_objects(base, ctx.region, ctx.session)
    ctx.detail(f"{result.success_count} objects imported")
    return result.dashboard_url


def _print_summary(ctx, api_url, api_auth, key_id, dashboards_link, outputs) -> None:
    ctx.step("Deployed")
    ctx.detail(f"API:        {api_url or '-'} (auth: {api_auth})")
    if key_id:
        ctx.detail(
            f"API key:    {key_id} (value: aws apigateway get-api-key --api-key {key_id} "
            "--include-value --query value --output text)"
        )
    ctx.detail(f"Gallery:    make gallery STAGE={ctx.stage} (signs your requests, on 127.0.0.1)")
    if dashboards_link and ".amazonaws.com" in (urlsplit(dashboards_link).hostname or ""):
        # The domain admits only signed requests: a browser gets there through the proxy.
        ctx.detail(f"Dashboards: make open-dashboards STAGE={ctx.stage} (same proxy)")
    elif dashboards_link:
        ctx.detail(f"Dashboards: {dashboards_link}")
    ctx.detail(
        f"Bucket:     {outputs['BucketName']} (aws s3 cp photo.jpg s3://{outputs['BucketName']}/)"
    )


def _confirm_creation(ctx: Context, search: SearchTarget) -> None:
    cost = "an OpenSearch domain (about $30/month while it exists), " if not search.endpoint else ""
    ctx.say(
        f"This creates {cost}a bucket, queues and Lambda functions in account {ctx.account}. "
        f"Remove everything with: make teardown STAGE={ctx.stage}"
    )
    if not sys.stdin.isatty():
        raise DeployError(
            "not a terminal: pass --yes to confirm creating the stack "
            f"(make deploy STAGE={ctx.stage} DEPLOY_ARGS=--yes)"
        )
    answer = input("Continue? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise DeployError("cancelled")


def setup_index(
    ctx: Context, endpoint: str, attempts: int = INDEX_ATTEMPTS, first_delay: float = 5.0
) -> str:
    """Index template + versioned index + alias, through the function's own store code.

    A domain that CloudFormation has just reported complete can still answer 403 or 503 for a
    minute while its access policy and endpoint settle, so those are retried with backoff.
    """
    from elasticsearch.exceptions import TransportError

    from chalicelib.search_client import create_search_client
    from chalicelib.settings import Settings
    from chalicelib.store.elasticsearch_store import ElasticsearchStore

    environment = {**ctx.stage_view().environment, "AWS_REGION": ctx.region}
    environment["SEARCH_ENDPOINT"] = endpoint
    settings = Settings.from_environ(environment)
    client = create_search_client(settings, session=ctx.session)
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            ElasticsearchStore(client, settings.index_alias, settings.index_replicas).ensure_ready()
            return settings.index_alias
        except TransportError as error:
            # ConnectionError is a TransportError whose status_code is "N/A".
            retryable = error.status_code in ("N/A", 403, 429, 502, 503, 504)
            if not retryable or attempt == attempts:
                hint = (
                    f" (is {ctx.caller_principal_arn} in the domain's AdminPrincipalArns?)"
                    if error.status_code == 403
                    else ""
                )
                raise DeployError(
                    f"index set-up on {endpoint} failed after {attempt} attempts: {error}{hint}"
                ) from None
            ctx.detail(f"cluster not ready ({error.status_code}); retrying in {delay:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 60)
    raise AssertionError("unreachable")


def dashboards_base_for(ctx: Context, outputs: dict[str, str], search: SearchTarget) -> str | None:
    """The Dashboards/Kibana base URL of an AWS domain; None for other endpoints."""
    endpoint = outputs.get("SearchEndpoint", "")
    engine = outputs.get("SearchEngineVersion") or search.engine_version
    if not engine and outputs.get("SearchDomainArn"):
        name = outputs["SearchDomainArn"].rsplit("/", 1)[1]
        engine = describe_existing_domain(ctx, name).engine_version
    if not engine:
        return None
    return dashboards.base_url_for_domain(endpoint, engine)
