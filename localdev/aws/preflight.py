"""Checks that run before deploy creates anything, in seconds, each problem one line with a fix.

Every check here stands for a failure that a real first deploy would otherwise meet later,
several of them only after the 15-30 minutes that CloudFormation spends on the search domain:
a region without Rekognition, a batch size Lambda rejects, a bucket name taken by another
account, an admin principal that locks its owner out, a stack left in a failed state.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from chalicelib import rate
from chalicelib.settings import ConfigurationError, Integer, Settings, parser_of
from localdev.aws import compact, log_groups, stack
from localdev.aws.context import Context, DeployError
from localdev.aws.policy import function_names
from localdev.aws.principals import check_admin

# Services the stage uses, by boto3 name, with what the user knows them as.
SERVICES = {
    "rekognition": "Amazon Rekognition",
    "lambda": "AWS Lambda",
    "sqs": "Amazon SQS",
    "apigateway": "Amazon API Gateway",
    "cloudformation": "AWS CloudFormation",
}
SEARCH_SERVICE = ("opensearch", "Amazon OpenSearch Service")
# Naming rules from the services' documentation.
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")  # CloudFormation CreateStack
DOMAIN_NAME = re.compile(r"^[a-z][a-z0-9-]{2,27}$")  # OpenSearch CreateDomain
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3 general purpose buckets
IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
# The template's AlarmEmail AllowedPattern (tests/deploy/test_alarms.py keeps the two equal);
# 254 characters is the longest address SMTP carries (RFC 5321, 4.5.3.1).
EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_ADDRESS = 254
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
MAX_FUNCTION_NAME = 64  # Lambda
MAX_ROLE_NAME = 64  # IAM
MAX_QUEUE_NAME = 80  # SQS
# The settings' bounds, which are Lambda's: 10,000 messages for a standard queue with a batching
# window, a window of at most 300 s.
BATCH_SIZES = parser_of("BATCH_SIZE", Integer)
BATCHING_WINDOWS = parser_of("MAX_BATCHING_WINDOW_SECONDS", Integer)
MAX_BATCH_SIZE = BATCH_SIZES.high
MAX_BATCH_WITHOUT_WINDOW = 10  # Lambda: a larger batch needs MaximumBatchingWindowInSeconds >= 1
MAX_BATCHING_WINDOW = BATCHING_WINDOWS.high
MAX_LAMBDA_TIMEOUT = 900
MAX_VISIBILITY_TIMEOUT = 43_200
VISIBILITY_FACTOR = 6  # AWS: queue visibility timeout >= 6 x the function's timeout
# A full batch at the quota's pace must leave a fifth of the timeout for reading the stored
# state, writing the batch and a slow call: a batch cut off by the timeout is retried whole.
BATCH_SHARE_OF_TIMEOUT = 0.8
CONFIG = ".chalice/config.json"


@dataclass(frozen=True)
class Problem:
    setting: str
    message: str
    fix: str

    def line(self) -> str:
        return f"{self.setting}: {self.message}. Fix: {self.fix}"


@dataclass(frozen=True)
class Inputs:
    """What the checks need to know about the intended deploy (see deploy.DeployOptions)."""

    stack: dict | None  # the stage's stack as deploy's plan read it, None before the first
    bucket: str
    admin_arns: list[str]
    creates_domain: bool
    uses_aws_domain: bool
    api_auth: str
    uploads: bool
    public_uploads: bool = False
    allow_broad_admins: bool = False
    alarm_email: str = ""  # "" = no SNS topic for the alarms


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_access(ctx: Context) -> Report:
    """Credentials, region and the caller: without these no other check can run."""
    report = Report()
    try:
        ctx.region  # noqa: B018 (raises DeployError when unset)
    except DeployError:
        report.problems.append(
            Problem(
                "region",
                "no AWS region is configured",
                "export AWS_DEFAULT_REGION=us-east-1 (or set region in your AWS profile)",
            )
        )
        return report
    try:
        identity = ctx.identity
    except NoCredentialsError:
        report.problems.append(
            Problem(
                "credentials",
                "no AWS credentials found",
                "run `aws configure` or `aws sso login --profile NAME` and export AWS_PROFILE",
            )
        )
        return report
    except (ClientError, BotoCoreError) as error:
        report.problems.append(
            Problem(
                "credentials",
                f"AWS rejected the credentials ({error})",
                "refresh them (`aws sso login`) or check AWS_PROFILE",
            )
        )
        return report
    principal, warning = ctx.caller
    report.notes.append(f"caller {identity['Arn']} (admin principal {principal})")
    if warning:
        report.notes.append(warning)
    return report


def run(ctx: Context, inputs: Inputs) -> Report:
    report = check_access(ctx)
    if not report.ok:
        return report
    for check in CHECKS:
        check(ctx, inputs, report)
    return report


# -- the checks ----------------------------------------------------------------------------------


def check_region(ctx: Context, inputs: Inputs, report: Report) -> None:
    services = dict(SERVICES)
    if inputs.uses_aws_domain:
        services[SEARCH_SERVICE[0]] = SEARCH_SERVICE[1]
    for service, label in services.items():
        # botocore's endpoint data: the regions where AWS publishes an endpoint for the service.
        regions = ctx.session.get_available_regions(service, partition_name=ctx.partition)
        if ctx.region not in regions:
            offered = ", ".join(r for r in ("us-east-1", "us-west-2", "eu-west-1") if r in regions)
            report.problems.append(
                Problem(
                    "region",
                    f"{ctx.region} does not offer {label}",
                    f"deploy to a region that does (e.g. {offered}): export "
                    "AWS_DEFAULT_REGION=<region>",
                )
            )


def check_batching(ctx: Context, inputs: Inputs, report: Report) -> None:
    view = ctx.stage_view()
    where = f"{CONFIG} stages.{ctx.stage}.environment_variables"
    try:
        batch = view.int_value("BATCH_SIZE")
        window = view.int_value("MAX_BATCHING_WINDOW_SECONDS")
    except ValueError as error:
        report.problems.append(Problem("BATCH_SIZE", str(error), f"use whole numbers in {where}"))
        return
    if not BATCH_SIZES.low <= batch <= MAX_BATCH_SIZE:
        report.problems.append(
            Problem(
                "BATCH_SIZE",
                f"{batch} is outside {BATCH_SIZES.low}-{MAX_BATCH_SIZE}",
                f"change it in {where}",
            )
        )
    if not BATCHING_WINDOWS.low <= window <= MAX_BATCHING_WINDOW:
        report.problems.append(
            Problem(
                "MAX_BATCHING_WINDOW_SECONDS",
                f"{window} is outside {BATCHING_WINDOWS.low}-{MAX_BATCHING_WINDOW}",
                f"change it in {where}",
            )
        )
    if batch > MAX_BATCH_WITHOUT_WINDOW and window < 1:
        report.problems.append(
            Problem(
                "BATCH_SIZE",
                f"Lambda rejects a batch size of {batch} (above {MAX_BATCH_WITHOUT_WINDOW}) "
                "with a 0 s batching window",
                f"set MAX_BATCHING_WINDOW_SECONDS to 1 or more, or BATCH_SIZE to at most "
                f"{MAX_BATCH_WITHOUT_WINDOW}, in {where}",
            )
        )
    timeout = view.index_timeout
    if not 1 <= timeout <= MAX_LAMBDA_TIMEOUT:
        report.problems.append(
            Problem(
                "lambda_timeout",
                f"{timeout} s is outside Lambda's 1-{MAX_LAMBDA_TIMEOUT} s",
                f"change it in {CONFIG}",
            )
        )
    elif VISIBILITY_FACTOR * timeout + window > MAX_VISIBILITY_TIMEOUT:
        report.problems.append(
            Problem(
                "lambda_timeout",
                f"the queue's visibility timeout ({VISIBILITY_FACTOR} x {timeout} + {window} s) "
                f"would exceed SQS's {MAX_VISIBILITY_TIMEOUT} s",
                f"lower lambda_timeout in {CONFIG}",
            )
        )
    _check_quota(view, where, report)


def _check_quota(view, where: str, report: Report) -> None:
    """REKOGNITION_TPS against the batching it paces (chalicelib/rate.py)."""
    names = ("REKOGNITION_TPS", "REKOGNITION_CONCURRENCY", "BATCH_SIZE", "PARTIAL_BATCH_RESPONSE")
    try:
        settings = Settings.from_environ(
            {n: view.environment[n] for n in names if n in view.environment}
        )
    except ConfigurationError as error:
        report.problems.append(Problem("REKOGNITION_TPS", str(error), f"change it in {where}"))
        return
    derived = rate.ingestion_rate(settings)
    if derived is None:
        return
    if not settings.partial_batch_response:
        report.problems.append(
            Problem(
                "REKOGNITION_TPS",
                "sends throttled messages back as copies, which needs partial batch responses: "
                "with PARTIAL_BATCH_RESPONSE=false a failed batch is retried whole, the "
                "originals of the copies too",
                f"remove PARTIAL_BATCH_RESPONSE=false (or REKOGNITION_TPS) in {where}",
            )
        )
    batch, timeout = settings.batch_size, view.index_timeout
    seconds = rate.full_batch_seconds(derived, batch)
    if seconds > BATCH_SHARE_OF_TIMEOUT * timeout:
        largest = max(
            1,
            math.floor(
                (BATCH_SHARE_OF_TIMEOUT * timeout - rate.CALL_SECONDS) * derived.calls_per_second
            ),
        )
        report.problems.append(
            Problem(
                "BATCH_SIZE",
                f"a full batch of {batch} takes about {seconds:.0f} s at REKOGNITION_TPS="
                f"{derived.quota_tps:g} ({batch} / {derived.calls_per_second:.3g} calls/s per "
                f"invocation + {rate.CALL_SECONDS:g} s), more than "
                f"{BATCH_SHARE_OF_TIMEOUT:.0%} of the indexer's {timeout} s timeout",
                f"set BATCH_SIZE to at most {largest} in {where}, or raise lambda_timeout in "
                f"{CONFIG}",
            )
        )


def check_tombstone_retention(ctx: Context, inputs: Inputs, report: Report) -> None:
    """Tombstones must outlive every message the two queues can hold (localdev/aws/compact.py)."""
    where = f"{CONFIG} stages.{ctx.stage}.environment_variables"
    try:
        days = ctx.stage_view().int_value("TOMBSTONE_RETENTION_DAYS")
    except ValueError as error:
        report.problems.append(
            Problem("TOMBSTONE_RETENTION_DAYS", str(error), f"fix it in {where}")
        )
        return
    queues = compact.template_retention()
    if timedelta(days=days) < queues:
        report.problems.append(
            Problem(
                "TOMBSTONE_RETENTION_DAYS",
                f"{days} days is shorter than the queue's plus the dead-letter queue's "
                f"retention ({queues})",
                f"set it to at least {compact.minimum_days(queues)} in {where}",
            )
        )


def check_names(ctx: Context, inputs: Inputs, report: Report) -> None:
    if not STACK_NAME.match(ctx.stack_name):
        report.problems.append(
            Problem(
                "stage",
                f"stack name {ctx.stack_name!r} breaks CloudFormation's rule (a letter, then "
                "letters, digits, hyphens; 128 at most)",
                "rename the stage in .chalice/config.json",
            )
        )
    longest = max(function_names(ctx.app_name, ctx.stage), key=len)
    for kind, name, limit in (
        ("function", longest, MAX_FUNCTION_NAME),
        ("role", f"{ctx.app_name}-{ctx.stage}-indexer", MAX_ROLE_NAME),
        ("queue", f"{ctx.app_name}-{ctx.stage}-uploads-dlq", MAX_QUEUE_NAME),
    ):
        if len(name) > limit:
            report.problems.append(
                Problem(
                    "stage",
                    f"{kind} name {name!r} is {len(name)} characters, AWS allows {limit}",
                    "use a shorter stage or app_name in .chalice/config.json",
                )
            )
    if inputs.creates_domain:
        name = f"{ctx.app_name}-{ctx.stage}"
        if not DOMAIN_NAME.match(name):
            report.problems.append(
                Problem(
                    "stage",
                    f"domain name {name!r} breaks OpenSearch's rule (3-28 characters: a "
                    "lowercase letter, then lowercase letters, digits, hyphens)",
                    "use a shorter stage name, or --existing-domain NAME",
                )
            )
    reason = bucket_name_problem(inputs.bucket)
    if reason:
        report.problems.append(Problem("--bucket-name", reason, "pass a valid --bucket-name"))


def bucket_name_problem(name: str) -> str | None:
    """S3's naming rules for general purpose buckets, or None when ``name`` keeps them."""
    if not BUCKET_NAME.match(name):
        return f"{name!r} is not 3-63 lowercase letters, digits, dots and hyphens"
    if ".." in name or ".-" in name or "-." in name:
        return f"{name!r} has adjacent dots, or a dot next to a hyphen"
    if IP_ADDRESS.match(name):
        return f"{name!r} looks like an IP address"
    if name.startswith(BUCKET_RESERVED_PREFIXES) or name.endswith(BUCKET_RESERVED_SUFFIXES):
        return f"{name!r} uses a prefix or suffix that S3 reserves"
    return None


def check_bucket_owner(ctx: Context, inputs: Inputs, report: Report) -> None:
    """A bucket name is global: taken by another account, the stack's creation fails late."""
    if bucket_name_problem(inputs.bucket):
        return  # check_names reports it
    if stack.outputs(inputs.stack).get("BucketName") == inputs.bucket:
        return
    try:
        ctx.client("s3").head_bucket(Bucket=inputs.bucket, ExpectedBucketOwner=ctx.account)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("404", "NoSuchBucket"):
            return
        if code in ("403", "AccessDenied"):
            report.problems.append(
                Problem(
                    "--bucket-name",
                    f"bucket {inputs.bucket} already exists in another account",
                    "pass another --bucket-name",
                )
            )
            return
        raise
    report.problems.append(
        Problem(
            "--bucket-name",
            f"bucket {inputs.bucket} already exists in this account outside the stack",
            "pass another --bucket-name, or empty and delete that bucket",
        )
    )


def check_admins(ctx: Context, inputs: Inputs, report: Report) -> None:
    for arn in inputs.admin_arns:
        reason = check_admin(arn, ctx.account, ctx.partition, inputs.allow_broad_admins)
        if reason:
            report.problems.append(
                Problem(
                    "--admin-arn",
                    reason,
                    "name IAM roles or users of this account (pass --allow-broad-admins to "
                    "admit it anyway)",
                )
            )


def check_alarm_email(ctx: Context, inputs: Inputs, report: Report) -> None:
    address = inputs.alarm_email
    if address and (len(address) > MAX_EMAIL_ADDRESS or not EMAIL_ADDRESS.match(address)):
        report.problems.append(
            Problem(
                "--alarm-email",
                f"{address!r} is not an e-mail address SNS can deliver to",
                "pass one address such as ops@example.com, or --alarm-email '' for no topic",
            )
        )


def check_log_groups(ctx: Context, inputs: Inputs, report: Report) -> None:
    if inputs.stack is not None:
        return  # a deployed stage's own log groups: nothing to say
    logs = ctx.client("logs")
    for name in function_names(ctx.app_name, ctx.stage):
        state = log_groups.describe(logs, f"/aws/lambda/{name}")
        if state.exists:
            report.notes.append(
                f"log group {state.name} exists (retention {state.retention_days or 'never'}"
                " expires): deploy adopts it and sets the stage's retention"
            )


def check_domain_log_group(ctx: Context, inputs: Inputs, report: Report) -> None:
    """The stack creates the domain's error-log group; one left behind fails its creation."""
    if not inputs.creates_domain or inputs.stack is not None:
        return
    name = f"/aws/opensearch/{ctx.app_name}-{ctx.stage}/application"
    if log_groups.describe(ctx.client("logs"), name).exists:
        report.problems.append(
            Problem(
                "stage",
                f"log group {name} exists outside the stack, which would fail to create it",
                f"delete it (aws logs delete-log-group --log-group-name {name})",
            )
        )


def check_stack_state(ctx: Context, inputs: Inputs, report: Report) -> None:
    described = inputs.stack
    if described is None:
        return
    status = described["StackStatus"]
    cfn = ctx.client("cloudformation")
    if status in stack.RECREATE:
        report.notes.append(
            f"stack {ctx.stack_name} is {status} (its creation failed: "
            f"{stack.failure_reasons(cfn, ctx.stack_name)}); deploy deletes it and creates it again"
        )
    elif status == stack.CONTINUE_ROLLBACK:
        report.notes.append(
            f"stack {ctx.stack_name} is {status}; deploy continues the rollback, then updates it"
        )
    elif status == stack.TEARDOWN_FIRST:
        report.problems.append(
            Problem(
                "stack",
                f"{ctx.stack_name} is {status} ({stack.failure_reasons(cfn, ctx.stack_name)})",
                f"finish the teardown first: make teardown STAGE={ctx.stage}",
            )
        )
    elif status.endswith("_IN_PROGRESS"):
        report.notes.append(f"stack {ctx.stack_name} is {status}; deploy waits for it first")


def check_api_access(ctx: Context, inputs: Inputs, report: Report) -> None:
    if inputs.api_auth == "none" and inputs.uploads and not inputs.public_uploads:
        report.problems.append(
            Problem(
                "--uploads",
                "with API_AUTH=none anyone could store images and run Rekognition at your cost",
                "use --api-auth iam (the gallery works through `make gallery`), or pass "
                "--public-uploads if that is really intended",
            )
        )


CHECKS: list[Callable[[Context, Inputs, Report], None]] = [
    check_region,
    check_batching,
    check_tombstone_retention,
    check_names,
    check_admins,
    check_alarm_email,
    check_stack_state,
    check_bucket_owner,
    check_log_groups,
    check_domain_log_group,
    check_api_access,
]
