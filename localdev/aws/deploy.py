"""``deploy``: stack, stage config, least-privilege policy, chalice, partial batches, API key,
index, dashboards. Every step converges, so running it again is safe and cheap.

The decisions are pure (localdev/aws/deploy_plan.py); this module reads their inputs from AWS
and the stage's config, then runs the plan's steps, one named function each (``STEPS``).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable
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
from localdev.aws.deploy_plan import (
    Caller,
    DeployOptions,
    Plan,
    PlanInputs,
    SearchTarget,
    StageConfig,
    Step,
    decide,
    preflight_inputs,
)

LOG_RETENTION_DAYS = 14
CURSOR_SECRET_BYTES = 32  # token_urlsafe: 43 characters, above Settings' minimum of 32
INDEX_ATTEMPTS = 8  # about four minutes of backoff


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


def read_inputs(ctx: Context, options: DeployOptions) -> PlanInputs:
    """What the plan is decided from: the stage's config, the caller, the stack as it is now
    and, with --existing-domain, that domain as AWS describes it."""
    config = stage_config(ctx.stage_view())
    found = stack.describe(ctx.client("cloudformation"), ctx.stack_name)
    return PlanInputs(
        app_name=ctx.app_name,
        stage=ctx.stage,
        caller=Caller(
            partition=ctx.partition,
            region=ctx.region,
            account=ctx.account,
            principal_arn=ctx.caller_principal_arn,
        ),
        config=config,
        stack=found,
        existing_domain=describe_existing_domain(ctx, options.existing_domain)
        if options.existing_domain
        else None,
    )


def stage_config(view: chalice_config.StageView) -> StageConfig:
    return StageConfig(
        api_auth=view.environment.get("API_AUTH"),
        uploads=view.is_set("UPLOAD_BUCKET"),
        upload_prefix=view.value("UPLOAD_PREFIX"),
        index_timeout_seconds=view.index_timeout,
        batching_window_seconds=view.int_value("MAX_BATCHING_WINDOW_SECONDS"),
        index_replicas=view.int_value("INDEX_REPLICAS", 0),
        detect_text=view.flag("DETECT_TEXT"),
        detect_moderation_labels=view.flag("DETECT_MODERATION_LABELS"),
        detect_faces=view.flag("DETECT_FACES"),
        index_alias=view.value("INDEX_ALIAS"),
        rekognition_quota=view.is_set("REKOGNITION_TPS"),
    )


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


# -- plan ----------------------------------------------------------------------------------------


def plan(ctx: Context, options: DeployOptions) -> Plan:
    """Options win over what the stack was last deployed with, which wins over defaults."""
    return decide(read_inputs(ctx, options), options)


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


# -- deploy --------------------------------------------------------------------------------------


@dataclass
class Run:
    """One deploy as its steps go: the plan, and what the steps have made so far."""

    ctx: Context
    plan: Plan
    options: DeployOptions
    policy_files: policy.PolicyFiles = field(default_factory=lambda: policy.PolicyFiles({}))
    outputs: dict[str, str] = field(default_factory=dict)
    resources: list[dict] = field(default_factory=list)
    mappings: list[dict] = field(default_factory=list)
    api: dict | None = None
    api_key_id: str | None = None
    dashboards_url: str | None = None

    @property
    def api_url(self) -> str | None:
        return self.api["rest_api_url"] if self.api else None

    def result(self) -> DeployResult:
        return DeployResult(
            stack_outputs=self.outputs,
            api_url=self.api_url,
            api_auth=self.plan.api_auth,
            api_key_id=self.api_key_id,
            dashboards_url=self.dashboards_url,
            event_source_mappings=self.mappings,
            policy_path=str(self.policy_files),
        )


def deploy(ctx: Context, options: DeployOptions) -> DeployResult:
    ctx.step(f"Preflight for stage {ctx.stage}")
    run = Run(ctx, checked_plan(ctx, options), options)
    for step in run.plan.steps:
        STEPS[step](run)
    return run.result()


# -- the steps, in the order deploy_plan.steps_for lists them ------------------------------------


def announce(run: Run) -> None:
    ctx = run.ctx
    ctx.step(f"Deploying stage {ctx.stage} to account {ctx.account}, region {ctx.region}")
    if run.plan.api_auth == "none":
        ctx.detail("WARNING: API_AUTH=none: anyone with the URL can search the images")


def confirm_creation(run: Run) -> None:
    ctx = run.ctx
    cost = "an OpenSearch domain (about $30/month while it exists), "
    ctx.say(
        f"This creates {cost if run.plan.search.creates_domain else ''}a bucket, queues and "
        f"Lambda functions in account {ctx.account}. "
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


def refuse(run: Run) -> None:
    raise DeployError(run.plan.refusal or "refused")


def prepare_workspace(run: Run) -> None:
    workspace.prepare(run.ctx.project_dir, run.ctx.stage)


def write_policies(run: Run) -> None:
    """One file per role, for review: .deploy/<stage>/.chalice/policy-<stage>-<function>.json."""
    ctx, documents = run.ctx, dict(run.plan.policies)
    run.policy_files = policy.write_policies(ctx.deploy_dir, ctx.stage, documents)
    for function, (path, written) in run.policy_files.files.items():
        relative = path.relative_to(ctx.project_dir)
        ctx.step(f"Role policy of {function}: {relative} {'written' if written else 'unchanged'}")
        for statement in documents[function]["Statement"]:
            ctx.detail(f"{statement['Sid']}: {', '.join(statement['Action'])}")


def deploy_stack(run: Run) -> None:
    ctx, decided = run.ctx, run.plan
    cfn = ctx.client("cloudformation")
    ctx.step(f"Stack {ctx.stack_name}")
    if not decided.exists and decided.search.creates_domain:
        ctx.detail("a new OpenSearch domain takes 15-30 minutes to create")
    outcome = stack.deploy(
        cfn, ctx.stack_name, dict(decided.params), dict(decided.tags), ctx.waiting, ctx.detail
    )
    outputs = stack.outputs(stack.describe(cfn, ctx.stack_name))
    ctx.detail(f"{outcome}: bucket {outputs['BucketName']}, queue {outputs['QueueName']}")
    ctx.detail(f"search endpoint {outputs['SearchEndpoint']}")
    run.outputs = outputs


def ensure_log_groups(run: Run) -> None:
    """Before chalice creates the functions: the role may write to, never create, log groups."""
    ctx = run.ctx
    ctx.step("Log groups")
    logs = ctx.client("logs")
    retention = LOG_RETENTION_DAYS
    for name in policy.function_names(ctx.app_name, ctx.stage):
        group = f"/aws/lambda/{name}"
        outcome = log_groups.ensure(
            logs, group, retention, {"app": ctx.app_name, "stage": ctx.stage}
        )
        ctx.detail(f"{group}: {outcome} (retention {retention} days)")


def write_stage_config(run: Run) -> None:
    ctx = run.ctx
    _write_stage_config(ctx, run.plan, run.outputs, run.policy_files.name, cursor_secret(ctx))


def restore_chalice_state(run: Run) -> None:
    _restore_chalice_state(run.ctx, run.outputs["QueueArn"])


def chalice_deploy(run: Run) -> None:
    ctx = run.ctx
    ctx.step(f"chalice deploy --stage {ctx.stage}")
    run_chalice(ctx, "deploy", "--stage", ctx.stage, cwd=ctx.deploy_dir)
    run.resources = event_source.deployed_resources(ctx.deploy_dir, ctx.stage)
    _check_functions(ctx, run.resources)
    run.api = event_source.rest_api(run.resources)


def enable_partial_batches(run: Run) -> None:
    ctx = run.ctx
    ctx.step("SQS event source: FunctionResponseTypes=ReportBatchItemFailures")
    mappings = event_source.enable_partial_batch_responses(ctx.client("lambda"), run.resources)
    if run.plan.clears_concurrency_bound:
        # Chalice leaves a bound from an earlier REKOGNITION_TPS in place (event_source.py).
        mappings = event_source.clear_maximum_concurrency(ctx.client("lambda"), mappings)
    for mapping in mappings:
        ctx.detail(
            f"{mapping['UUID']}: {mapping.get('State')}, batch size {mapping.get('BatchSize')}, "
            f"FunctionResponseTypes={mapping.get('FunctionResponseTypes')}"
        )
    run.mappings = mappings


def set_api_access(run: Run) -> None:
    run.api_key_id = _api_access(run.ctx, run.plan.api_auth, run.api)


def allow_upload_origin(run: Run) -> None:
    """Browser uploads: the bucket must accept cross-origin POSTs from the API's origin."""
    if not run.api_url:
        return
    ctx, decided = run.ctx, run.plan
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(run.api_url))
    if decided.params["UploadCorsOrigin"] == origin:
        return
    ctx.step(f"Bucket CORS for uploads from {origin}")
    params = {**decided.params, "UploadCorsOrigin": origin}
    stack.deploy(
        ctx.client("cloudformation"),
        ctx.stack_name,
        params,
        dict(decided.tags),
        ctx.waiting,
        ctx.detail,
    )


def set_up_index(run: Run) -> None:
    ctx, endpoint = run.ctx, run.outputs["SearchEndpoint"]
    ctx.step(f"Index template and alias on {endpoint}")
    ctx.detail(f"alias {setup_index(ctx, endpoint)} ready")


def import_saved_objects(run: Run) -> None:
    ctx = run.ctx
    base = run.options.dashboards_url or dashboards_base_for(ctx, run.outputs, run.plan.search)
    if not base:
        ctx.step("Saved objects: no Dashboards URL for this endpoint (pass --dashboards-url)")
        return
    ctx.step(f"Saved objects -> {base}")
    result = dashboards.import_saved_objects(base, ctx.region, ctx.session)
    ctx.detail(f"{result.success_count} objects imported")
    run.dashboards_url = result.dashboard_url


def print_summary(run: Run) -> None:
    ctx, outputs, key_id, dashboards_link = run.ctx, run.outputs, run.api_key_id, run.dashboards_url
    ctx.step("Deployed")
    ctx.detail(f"API:        {run.api_url or '-'} (auth: {run.plan.api_auth})")
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


def print_stack_only_summary(run: Run) -> None:
    """--stack-only: what a SAM or CDK deploy of the functions needs, and no functions."""
    ctx = run.ctx
    ctx.step("Stack ready; no functions deployed (--stack-only)")
    ctx.detail(f"package the functions with: make package STAGE={ctx.stage} (docs/package.md)")


STEPS: dict[Step, Callable[[Run], None]] = {
    Step.ANNOUNCE: announce,
    Step.CONFIRM_CREATION: confirm_creation,
    Step.REFUSE: refuse,
    Step.WORKSPACE: prepare_workspace,
    Step.POLICIES: write_policies,
    Step.STACK: deploy_stack,
    Step.LOG_GROUPS: ensure_log_groups,
    Step.STAGE_CONFIG: write_stage_config,
    Step.CHALICE_STATE: restore_chalice_state,
    Step.CHALICE_DEPLOY: chalice_deploy,
    Step.PARTIAL_BATCHES: enable_partial_batches,
    Step.API_ACCESS: set_api_access,
    Step.UPLOAD_ORIGIN: allow_upload_origin,
    Step.INDEX: set_up_index,
    Step.SAVED_OBJECTS: import_saved_objects,
    Step.SUMMARY: print_summary,
    Step.STACK_ONLY_SUMMARY: print_stack_only_summary,
}


# -- what the steps use --------------------------------------------------------------------------


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


def setup_index(
    ctx: Context, endpoint: str, attempts: int = INDEX_ATTEMPTS, first_delay: float = 5.0
) -> str:
    """Index template + versioned index + alias, through the function's own store code.

    A domain that CloudFormation has just reported complete can still answer 403 or 503 for a
    minute while its access policy and endpoint settle, so those are retried with backoff.
    """
    from elasticsearch.exceptions import TransportError

    from chalicelib.search_client import create_search_client
    from chalicelib.store.elasticsearch_store import ElasticsearchStore

    settings = ctx.stage_settings(endpoint)
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
