"""``deploy``: stack, stage config, least-privilege policy, chalice, partial batches, API key,
index, dashboards. Every step converges, so running it again is safe and cheap.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from localdev.aws import api_keys, chalice_config, dashboards, event_source, policy, stack
from localdev.aws.context import Context, DeployError
from localdev.aws.policy import PolicyInputs

API_AUTH_CHOICES = ("iam", "api_key", "none")
# AWS recommends a queue visibility timeout of six times the function timeout (plus the
# batching window), so a throttled or retried invocation does not see its messages reappear.
VISIBILITY_FACTOR = 6
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
DOMAIN_NAME = re.compile(r"^[a-z][a-z0-9-]{2,27}$")
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


@dataclass(frozen=True)
class SearchTarget:
    endpoint: str  # "" = the stack creates a domain
    domain_arn: str | None
    engine_version: str | None = None


@dataclass
class DeployResult:
    stack_outputs: dict[str, str]
    api_url: str | None
    api_auth: str
    api_key_id: str | None
    dashboards_url: str | None
    event_source_mappings: list[dict]
    policy_path: str


# -- chalice -------------------------------------------------------------------------------------


def run_chalice(ctx: Context, *args: str) -> None:
    """Runs the chalice CLI of this interpreter from the project root; output streams through."""
    command = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())"]
    ctx.detail(f"$ chalice {' '.join(args)}")
    process = subprocess.run(
        [*command, *args],
        cwd=ctx.project_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    for line in process.stdout.splitlines():
        ctx.detail(f"  {line}")
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
    name = f"{ctx.app_name}-{ctx.stage}"
    if not DOMAIN_NAME.match(name):
        raise DeployError(
            f"domain name {name!r} is not valid (3-28 characters: lowercase letters, digits, "
            "hyphens); use a shorter stage name or --existing-domain"
        )
    return name


def default_bucket_name(ctx: Context) -> str:
    return f"{ctx.app_name}-{ctx.stage}-{ctx.account}-{ctx.region}"


def _bool_param(value: bool) -> str:
    return "true" if value else "false"


# -- deploy --------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Everything deploy decides before it changes anything."""

    exists: bool
    deletes_domain: bool  # the stack owns a domain and this deploy switches to another cluster
    api_auth: str
    uploads: bool
    search: SearchTarget
    policy_document: dict
    params: dict[str, str]
    tags: dict[str, str]


def plan(ctx: Context, options: DeployOptions) -> Plan:
    """Options win over what the stack was last deployed with, which wins over defaults."""
    view = ctx.stage_view()
    existing = stack.describe(ctx.client("cloudformation"), ctx.stack_name)
    previous = stack.parameters(existing)

    api_auth = options.api_auth or view.environment.get("API_AUTH") or "iam"
    if api_auth not in API_AUTH_CHOICES:
        raise DeployError(f"API_AUTH must be one of {', '.join(API_AUTH_CHOICES)}, got {api_auth}")
    bucket = options.bucket_name or previous.get("BucketName") or default_bucket_name(ctx)
    if not BUCKET_NAME.match(bucket) or ".." in bucket:
        raise DeployError(f"bucket name {bucket!r} is not valid; pass --bucket-name")
    search = resolve_search(ctx, options, previous)
    admins = options.admin_arns
    if admins is None:
        admins = [a for a in previous.get("AdminPrincipalArns", "").split(",") if a]
        if ctx.caller_principal_arn not in admins:
            admins.append(ctx.caller_principal_arn)
    uploads = (
        options.uploads
        if options.uploads is not None
        else bool(view.environment.get("UPLOAD_BUCKET", "").strip())
    )
    upload_prefix = view.environment.get("UPLOAD_PREFIX") or DEFAULT_UPLOAD_PREFIX
    versioning = (
        options.versioning
        if options.versioning is not None
        else previous.get("BucketVersioning") == "true"
    )
    batching_window = view.int_value("MAX_BATCHING_WINDOW_SECONDS", 0)
    visibility = VISIBILITY_FACTOR * view.index_timeout + batching_window
    document = policy.build_policy(
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
        )
    )
    params = {
        "AppName": ctx.app_name,
        "Stage": ctx.stage,
        "BucketName": bucket,
        "BucketVersioning": _bool_param(versioning),
        "QueueVisibilityTimeout": str(visibility),
        "MaxReceiveCount": str(options.max_receive_count or previous.get("MaxReceiveCount") or 5),
        "FunctionPolicyDocument": policy.compact(document),
        "AdminPrincipalArns": ",".join(admins),
        "ExistingSearchEndpoint": search.endpoint,
        "ExistingDomainArn": search.domain_arn if search.endpoint and search.domain_arn else "",
        "SearchDomainName": "" if search.endpoint else domain_name(ctx),
        "UploadCorsOrigin": previous.get("UploadCorsOrigin", "") if uploads else "",
    }
    return Plan(
        exists=existing is not None,
        deletes_domain=bool(
            existing and not previous.get("ExistingSearchEndpoint") and search.endpoint
        ),
        api_auth=api_auth,
        uploads=uploads,
        search=search,
        policy_document=document,
        params=params,
        tags={"app": ctx.app_name, "stage": ctx.stage},
    )


def deploy(ctx: Context, options: DeployOptions) -> DeployResult:
    ctx.step(f"Deploying stage {ctx.stage} to account {ctx.account}, region {ctx.region}")
    decided = plan(ctx, options)
    view = ctx.stage_view()
    cfn = ctx.client("cloudformation")
    params, api_auth, uploads = decided.params, decided.api_auth, decided.uploads
    if api_auth == "none":
        ctx.detail("WARNING: API_AUTH=none: anyone with the URL can search the images")
    if ctx.caller_principal_arn not in params["AdminPrincipalArns"].split(","):
        ctx.detail(f"note: {ctx.caller_principal_arn} is not an admin; index set-up may be denied")

    if not decided.exists and not options.assume_yes:
        _confirm_creation(ctx, decided.search)
    if decided.deletes_domain and not options.assume_yes:
        raise DeployError(
            f"switching to {decided.search.endpoint} deletes the stack's OpenSearch domain and "
            "its index; pass --yes to do that"
        )

    # 1. The least-privilege policy, rendered for this stage.
    document = decided.policy_document
    policy_file, written = policy.write_policy(ctx.project_dir, ctx.stage, document)
    relative = policy_file.relative_to(ctx.project_dir)
    ctx.step(f"Role policy {relative}: {'written' if written else 'unchanged'}")
    for statement in document["Statement"]:
        ctx.detail(f"{statement['Sid']}: {', '.join(statement['Action'])}")

    # 2. The supporting resources.
    tags = decided.tags
    ctx.step(f"Stack {ctx.stack_name}")
    if not decided.exists and not decided.search.endpoint:
        ctx.detail("a new OpenSearch domain takes 15-30 minutes to create")
    outcome = stack.deploy(cfn, ctx.stack_name, params, tags, ctx.waiting, ctx.detail)
    outputs = stack.outputs(stack.describe(cfn, ctx.stack_name))
    ctx.detail(f"{outcome}: bucket {outputs['BucketName']}, queue {outputs['QueueName']}")
    ctx.detail(f"search endpoint {outputs['SearchEndpoint']}")

    # 3. The stage's configuration for chalice.
    config = chalice_config.load(ctx.project_dir)
    chalice_config.update_stage(
        config,
        ctx.stage,
        environment={
            "QUEUE_NAME": outputs["QueueName"],
            "QUEUE_ARN": outputs["QueueArn"],
            "SEARCH_ENDPOINT": outputs["SearchEndpoint"],
            "IMAGE_BUCKET": outputs["BucketName"],
            "API_AUTH": api_auth,
            "UPLOAD_BUCKET": outputs["BucketName"] if uploads else None,
        },
        settings={
            "manage_iam_role": False,
            "iam_role_arn": outputs["FunctionRoleArn"],
            "iam_policy_file": policy_file.name,
        },
    )
    changed = chalice_config.save(ctx.project_dir, config)
    ctx.step(f".chalice/config.json stage {ctx.stage}: {'updated' if changed else 'unchanged'}")

    # 4. The app.
    ctx.step(f"chalice deploy --stage {ctx.stage}")
    run_chalice(ctx, "deploy", "--stage", ctx.stage)
    resources = event_source.deployed_resources(ctx.project_dir, ctx.stage)

    # 5. Partial batch responses on the SQS event source.
    ctx.step("SQS event source: FunctionResponseTypes=ReportBatchItemFailures")
    mappings = event_source.enable_partial_batch_responses(ctx.client("lambda"), resources)
    for mapping in mappings:
        ctx.detail(
            f"{mapping['UUID']}: {mapping.get('State')}, batch size {mapping.get('BatchSize')}, "
            f"FunctionResponseTypes={mapping.get('FunctionResponseTypes')}"
        )
    _check_log_groups(ctx, resources)

    # 6. API access.
    api = event_source.rest_api(resources)
    api_url = api["rest_api_url"] if api else None
    apigateway = ctx.client("apigateway")
    key_id = None
    if api_auth == "api_key" and api:
        access = api_keys.ensure(
            apigateway, ctx.resource_name, api["rest_api_id"], view.api_gateway_stage
        )
        key_id = access.key_id
        ctx.step(f"API key {key_id} in usage plan {access.usage_plan_id}")
    else:
        removed = api_keys.delete(apigateway, ctx.resource_name)
        if removed:
            ctx.step(f"API auth is {api_auth}: removed {', '.join(removed)}")

    # 7. Browser uploads: the bucket must accept cross-origin POSTs from the API's origin.
    if uploads and api_url:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(api_url))
        if params["UploadCorsOrigin"] != origin:
            ctx.step(f"Bucket CORS for uploads from {origin}")
            params["UploadCorsOrigin"] = origin
            stack.deploy(cfn, ctx.stack_name, params, tags, ctx.waiting, ctx.detail)

    # 8. The index template and the alias.
    ctx.step(f"Index template and alias on {outputs['SearchEndpoint']}")
    alias = setup_index(ctx, outputs["SearchEndpoint"])
    ctx.detail(f"alias {alias} ready")

    # 9. Dashboards.
    dashboards_base = options.dashboards_url or dashboards_base_for(ctx, outputs, decided.search)
    dashboards_link = None
    if dashboards_base:
        ctx.step(f"Saved objects -> {dashboards_base}")
        result = dashboards.import_saved_objects(dashboards_base, ctx.region, ctx.session)
        dashboards_link = result.dashboard_url
        ctx.detail(f"{result.success_count} objects imported")
    else:
        ctx.step("Saved objects: no Dashboards URL for this endpoint (pass --dashboards-url)")

    ctx.step("Deployed")
    ctx.detail(f"API:        {api_url or '-'} (auth: {api_auth})")
    if key_id:
        ctx.detail(
            f"API key:    {key_id} (value: aws apigateway get-api-key --api-key {key_id} "
            "--include-value --query value --output text)"
        )
    ctx.detail(f"Dashboards: {dashboards_link or '-'}")
    ctx.detail(
        f"Bucket:     {outputs['BucketName']} (aws s3 cp photo.jpg s3://{outputs['BucketName']}/)"
    )
    return DeployResult(
        stack_outputs=outputs,
        api_url=api_url,
        api_auth=api_auth,
        api_key_id=key_id,
        dashboards_url=dashboards_link,
        event_source_mappings=mappings,
        policy_path=str(policy_file),
    )


def _confirm_creation(ctx: Context, search: SearchTarget) -> None:
    cost = "an OpenSearch domain (about $30/month while it exists), " if not search.endpoint else ""
    ctx.say(
        f"This creates {cost}a bucket, queues and Lambda functions in account {ctx.account}. "
        f"Remove everything with: python -m localdev.aws teardown --stage {ctx.stage}"
    )
    if not sys.stdin.isatty():
        raise DeployError("not a terminal: pass --yes to confirm creating the stack")
    answer = input("Continue? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise DeployError("cancelled")


def _check_log_groups(ctx: Context, resources: list[dict]) -> None:
    deployed = sorted(
        event_source.function_name(r["lambda_arn"])
        for r in event_source.resources_of(resources, "lambda_function")
    )
    expected = sorted(policy.function_names(ctx.app_name, ctx.stage))
    if deployed != expected:
        raise DeployError(
            f"chalice deployed functions {deployed}, but the stack's log groups and the role "
            f"policy cover {expected}: add the new function to infra/template.yaml and "
            "localdev/aws/policy.py"
        )


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
