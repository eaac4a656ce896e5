"""python -m localdev.aws COMMAND --stage STAGE ...

Commands: plan, deploy, status, teardown, gallery, open-dashboards, dashboards, and the
operations commands redrive, relabel, compact (localdev/aws/operations.py).

Credentials and region come from the usual AWS sources (profile, environment, SSO).
AWS_ENDPOINT_URL points every client, and the chalice subprocess, at another endpoint
(the tests use a moto server).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from localdev.aws import dashboards, operations, stack
from localdev.aws.context import PROJECT_ROOT, Context, DeployError
from localdev.aws.deploy import PreflightFailed, checked_plan, dashboards_base_for, deploy
from localdev.aws.deploy_plan import API_AUTH_CHOICES, DeployOptions
from localdev.aws.stack import StackError, Waiting


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.aws",
        description="Deploy Image Label Search to AWS, inspect it, tear it down.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser, stage_required: bool = True) -> None:
        sub.add_argument("--stage", required=stage_required, help="chalice stage, e.g. dev")
        sub.add_argument(
            "--project-dir", type=Path, default=PROJECT_ROOT, help="the chalice project"
        )
        sub.add_argument(
            "--poll-seconds", type=int, default=15, help="CloudFormation polling interval"
        )

    run = commands.add_parser("deploy", help="create or update everything for a stage")
    preview = commands.add_parser("plan", help="preflight checks and what deploy would change")
    for sub in (run, preview):
        common(sub)
        deploy_options(sub)

    show = commands.add_parser("status", help="what exists for a stage")
    common(show)
    show.add_argument("--json", action="store_true", help="machine-readable output")

    down = commands.add_parser("teardown", help="delete everything of a stage")
    common(down)
    down.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    down.add_argument(
        "--delete-index", action="store_true", help="also delete the index on an existing cluster"
    )

    for name, what in (("gallery", "the gallery"), ("open-dashboards", "Dashboards/Kibana")):
        browse = commands.add_parser(
            name, help=f"{what} of a deployed stage through a local signing proxy"
        )
        common(browse)
        browse.add_argument("--port", type=int, default=0, help="local port (0: a free one)")

    board = commands.add_parser("dashboards", help="import the saved objects")
    common(board, stage_required=False)
    board.add_argument("--url", help="Kibana/Dashboards base URL, e.g. http://localhost:5601")
    operations.add_parsers(commands, common)
    return parser


def deploy_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--yes", action="store_true", help="do not ask before creating the stack")
    run.add_argument(
        "--bucket-name", help="image bucket (default <app>-<stage>-<account>-<region>)"
    )
    where = run.add_mutually_exclusive_group()
    where.add_argument("--existing-domain", metavar="NAME", help="use this OpenSearch domain")
    where.add_argument(
        "--search-endpoint", metavar="URL", help="use this non-AWS cluster (no domain)"
    )
    where.add_argument(
        "--create-domain", action="store_true", help="go back to a stack-owned domain"
    )
    run.add_argument(
        "--admin-arn",
        action="append",
        dest="admin_arns",
        metavar="ARN",
        help="principal admitted to the domain besides the function (repeatable; default: you)",
    )
    run.add_argument("--api-auth", choices=API_AUTH_CHOICES, help="store API_AUTH for the stage")
    run.add_argument("--versioning", action=argparse.BooleanOptionalAction, default=None)
    run.add_argument(
        "--uploads",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="browser uploads through presigned POST (UPLOAD_BUCKET)",
    )
    run.add_argument("--max-receive-count", type=int, help="receives before the DLQ (default 5)")
    run.add_argument("--dashboards-url", help="import saved objects here instead")
    run.add_argument(
        "--public-uploads",
        action="store_true",
        help="allow --uploads on an --api-auth none stage (anyone can upload)",
    )
    run.add_argument(
        "--stack-only",
        action="store_true",
        help="the supporting stack and the index only, for SAM/CDK users (docs/package.md)",
    )
    run.add_argument(
        "--alarm-email",
        metavar="ADDRESS",
        help="send the stage's alarms to this address through an SNS topic "
        "(kept on later deploys; '' removes the topic)",
    )
    run.add_argument(
        "--allow-broad-admins",
        action="store_true",
        help="allow '*', an account root or another account's principal as --admin-arn",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = Context(
        stage=args.stage or "",
        project_dir=args.project_dir.resolve(),
        waiting=Waiting(delay_seconds=max(1, args.poll_seconds)),
    )
    try:
        return COMMANDS[args.command](ctx, args)
    except PreflightFailed as error:
        for problem in error.report.problems:
            print(f"problem: {problem.line()}", file=sys.stderr)
        print(f"{len(error.report.problems)} problem(s); nothing was changed", file=sys.stderr)
        return 2
    except (DeployError, StackError, dashboards.ImportFailed, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"AWS error: {error}", file=sys.stderr)
        return 1


def _options(args) -> DeployOptions:
    return DeployOptions(
        bucket_name=args.bucket_name,
        existing_domain=args.existing_domain,
        search_endpoint=args.search_endpoint,
        create_domain=args.create_domain,
        admin_arns=args.admin_arns,
        api_auth=args.api_auth,
        versioning=args.versioning,
        max_receive_count=args.max_receive_count,
        uploads=args.uploads,
        dashboards_url=args.dashboards_url,
        assume_yes=args.yes,
        public_uploads=args.public_uploads,
        allow_broad_admins=args.allow_broad_admins,
        stack_only=args.stack_only,
        alarm_email=args.alarm_email,
    )


def _deploy(ctx: Context, args) -> int:
    deploy(ctx, _options(args))
    return 0


def _plan(ctx: Context, args) -> int:
    from localdev.aws import changes

    ctx.step(f"Preflight for stage {ctx.stage}")
    decided = checked_plan(ctx, _options(args))
    ctx.detail("all checks passed")
    ctx.step(f"Plan for stage {ctx.stage} (account {ctx.account}, {ctx.region}); nothing changed")
    for line in changes.describe(ctx, decided):
        ctx.detail(line)
    return 0


def _status(ctx: Context, args) -> int:
    from localdev.aws import status

    report = status.collect(ctx)
    if args.json:
        print(json.dumps(report, indent=2, default=str), file=ctx.out)
    else:
        for line in status.render(report):
            ctx.say(line)
    return 0


def _teardown(ctx: Context, args) -> int:
    from localdev.aws.teardown import teardown

    result = teardown(ctx, assume_yes=args.yes, delete_index=args.delete_index)
    return 1 if result.leftovers else 0


def _dashboards(ctx: Context, args) -> int:
    if args.url:
        base = args.url
        region = ctx.session.region_name or "us-east-1"
    elif args.stage:
        outputs = stack.outputs(stack.describe(ctx.client("cloudformation"), ctx.stack_name))
        if not outputs:
            raise DeployError(f"stage {args.stage} is not deployed; pass --url instead")
        base = dashboards_base_for(ctx, outputs, search=_no_search())
        if not base:
            raise DeployError("the stage's endpoint is not an AWS domain; pass --url")
        region = ctx.region
    else:
        raise DeployError("pass --stage (the stage's domain) or --url")
    result = dashboards.import_saved_objects(base, region, ctx.session)
    ctx.say(f"imported {result.success_count} saved objects into {result.url}")
    ctx.say(f"dashboard: {result.dashboard_url}")
    return 0


def _no_search():
    from localdev.aws.deploy_plan import SearchTarget

    return SearchTarget(endpoint="", domain_arn=None)


def _gallery(ctx: Context, args) -> int:
    from localdev.aws import access

    _require_access(ctx)
    return access.serve(ctx, access.stage_api(ctx), args.port)


def _open_dashboards(ctx: Context, args) -> int:
    from localdev.aws import access

    _require_access(ctx)
    return access.serve(ctx, access.stage_dashboards(ctx), args.port)


def _require_access(ctx: Context) -> None:
    """Credentials and region first: the proxy signs with them, so say now when they are missing."""
    from localdev.aws import preflight

    report = preflight.check_access(ctx)
    if not report.ok:
        raise PreflightFailed(report)


COMMANDS = {
    "plan": _plan,
    "gallery": _gallery,
    "open-dashboards": _open_dashboards,
    "deploy": _deploy,
    "status": _status,
    "teardown": _teardown,
    "dashboards": _dashboards,
    **operations.COMMANDS,
}

if __name__ == "__main__":
    sys.exit(main())
