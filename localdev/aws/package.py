"""``package``: ``chalice package`` for SAM, CloudFormation and CDK users, plus what chalice omits.

    python -m localdev.aws.package --stage dev --out build/dev

Chalice 1.34 cannot declare two things this app relies on, so a stage-specific merge template
adds them through ``chalice package --merge-template`` (a deep merge into chalice's SAM
template, chalice/package.py ``TemplateDeepMerger``):

* ``FunctionResponseTypes: [ReportBatchItemFailures]`` on the indexing function's SQS event:
  without it Lambda ignores the handler's ``batchItemFailures`` and deletes the whole batch.
  (``chalice deploy`` users get it from localdev/aws/event_source.py after the deploy.)
* Fixed ``FunctionName``s, chalice's own deploy-time names: otherwise CloudFormation makes up
  names, and the role policy's log permissions and the stack's log groups
  (``/aws/lambda/<name>``, localdev/aws/policy.py) would not match them.

The merge template is written next to chalice's output (``merge-<stage>.json``), so what was
added can be read beside ``sam.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from localdev.aws import chalice_config, policy, workspace
from localdev.aws.context import PROJECT_ROOT, Context, DeployError
from localdev.aws.deploy import run_chalice
from localdev.aws.event_source import PARTIAL_BATCH

# Chalice's SAM logical IDs, read from a `chalice package` of this app (and chalice/package.py:
# the API handler is always "APIHandler"; other functions and events are to_cfn_resource_name
# of the handler name and "<handler>-sqs-event-source").
API_FUNCTION = "APIHandler"
INDEX_FUNCTION = "IndexImages"
INDEX_EVENT = "IndexImagesSqsEventSource"
SAM_TEMPLATE = "sam.json"
FUNCTION_TYPE = "AWS::Serverless::Function"


LOG_RETENTION_DAYS = 14


def merge_template(app_name: str, stage: str) -> dict[str, Any]:
    api_name, index_name = policy.function_names(app_name, stage)
    # The roles may write to, never create, log groups (localdev/aws/log_groups.py), so the
    # package declares them; `make deploy` creates them with boto3 instead.
    log_groups = {
        f"{logical}LogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": f"/aws/lambda/{name}",
                "RetentionInDays": LOG_RETENTION_DAYS,
            },
        }
        for logical, name in ((API_FUNCTION, api_name), (INDEX_FUNCTION, index_name))
    }
    return {
        "Resources": {
            **log_groups,
            API_FUNCTION: {"Properties": {"FunctionName": api_name}},
            INDEX_FUNCTION: {
                "Properties": {
                    "FunctionName": index_name,
                    "Events": {
                        INDEX_EVENT: {"Properties": {"FunctionResponseTypes": PARTIAL_BATCH}}
                    },
                }
            },
        }
    }


def package(project_dir: Path, stage: str, out_dir: Path, ctx: Context | None = None) -> Path:
    """Writes the merge template, runs chalice package into ``out_dir``; returns sam.json."""
    ctx = ctx or Context(stage=stage, project_dir=project_dir)
    view = chalice_config.stage_view(chalice_config.load(project_dir), stage)
    if not view.is_set("SEARCH_ENDPOINT"):
        # The packaged functions would refuse to start (chalicelib/settings.py): say so now.
        raise DeployError(
            f"SEARCH_ENDPOINT is empty for stage {stage}: set it in .chalice/config.json under "
            f"stages.{stage}.environment_variables, or run make deploy STAGE={stage} "
            "DEPLOY_ARGS=--stack-only, which writes it into .deploy/<stage>/"
        )
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    merge_path = out_dir / f"merge-{stage}.json"
    merge_path.write_text(json.dumps(merge_template(view.app_name, stage), indent=2) + "\n")
    # ctx.region fails with a clear message when none is configured (chalice needs one).
    ctx.step(f"chalice package --stage {stage} (region {ctx.region}) -> {out_dir}")
    run_chalice(
        ctx,
        "package",
        "--stage",
        stage,
        "--merge-template",
        str(merge_path),
        str(out_dir),
        cwd=project_dir,
    )
    template_path = out_dir / SAM_TEMPLATE
    template = json.loads(template_path.read_text())
    check_merged(template)
    check_roles(template)
    return template_path


def check_merged(template: dict[str, Any]) -> None:
    """The merge must have landed on chalice's own resources.

    A deep merge into a logical ID chalice no longer uses would add a resource without a Type,
    which CloudFormation rejects only at deploy time.
    """
    resources = template.get("Resources", {})
    for name in (API_FUNCTION, INDEX_FUNCTION):
        if resources.get(name, {}).get("Type") != FUNCTION_TYPE:
            raise DeployError(f"chalice's template has no function {name}: update {__name__}")
    events = resources[INDEX_FUNCTION]["Properties"].get("Events", {})
    if events.get(INDEX_EVENT, {}).get("Type") != "SQS":
        raise DeployError(f"chalice's template has no SQS event {INDEX_EVENT}: update {__name__}")


def check_roles(template: dict[str, Any]) -> None:
    """Each function runs with a role of its own (localdev/aws/policy.py has one per function).

    A stage configured with one ``iam_role_arn`` for the whole stage would package both
    functions with the same role, so the internet-facing API would get the indexer's rights.
    """
    resources = template.get("Resources", {})
    roles = {
        name: resources[name]["Properties"].get("Role") for name in (API_FUNCTION, INDEX_FUNCTION)
    }
    if roles[API_FUNCTION] == roles[INDEX_FUNCTION]:
        raise DeployError(
            f"{API_FUNCTION} and {INDEX_FUNCTION} share the role {roles[API_FUNCTION]}: set "
            "iam_role_arn per function under stages.<stage>.lambda_functions.<function> in "
            ".chalice/config.json (make deploy writes them)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.aws.package",
        description="chalice package with partial batch responses and fixed function names.",
    )
    parser.add_argument("--stage", required=True, help="chalice stage, e.g. dev")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_ROOT, help="chalice project")
    args = parser.parse_args(argv)
    ctx = Context(stage=args.stage, project_dir=args.project_dir.resolve())
    # What deploy generated for the stage (role ARNs, queue, endpoint), if it ran; otherwise
    # the project itself, whose stage must then carry those values.
    generated = workspace.stage_dir(ctx.project_dir, args.stage)
    source = generated if (generated / ".chalice" / "config.json").exists() else ctx.project_dir
    try:
        template = package(source, args.stage, args.out, ctx)
    except (DeployError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    ctx.step(f"SAM template: {template}")
    ctx.detail(f"deployment package: {template.parent / 'deployment.zip'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
