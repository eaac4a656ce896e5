"""``gallery`` and ``open-dashboards``: a deployed stage from a browser, nothing opened.

The stage admits only signed requests (API_AUTH=iam), requests with its key (api_key), and a
domain only its roles and admins. Both commands start the local signing proxy
(localdev/proxy/) on 127.0.0.1 in front of the stage's API or domain, signing with the user's
own AWS credentials, and open the page through it: no Cognito, no public domain, no EC2.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from localdev.aws import dashboards, discovery, stack
from localdev.aws.context import Context, DeployError


@dataclass(frozen=True)
class Upstream:
    url: str
    service: str  # execute-api or es
    auth: str  # iam, api_key or none
    open_path: str
    api_key: str | None = None

    def proxy_arguments(self, region: str, port: int) -> list[str]:
        arguments = [
            "--upstream",
            self.url,
            "--service",
            self.service,
            "--region",
            region,
            "--auth",
            self.auth,
            "--port",
            str(port),
            "--open",
            self.open_path,
        ]
        return arguments + (["--api-key", self.api_key] if self.api_key else [])


def stage_api(ctx: Context) -> Upstream:
    """The stage's REST API, found in AWS, with the stage's auth (and key, for api_key)."""
    found = discovery.discover(ctx.client("lambda"), ctx.client("apigateway"), ctx.names, None)
    if not found.rest_api_ids:
        raise DeployError(f"stage {ctx.stage} has no REST API: make deploy STAGE={ctx.stage}")
    described = stack.describe(ctx.client("cloudformation"), ctx.stack_name)
    auth = stack.api_auth(described, ctx.stage_view().environment.get("API_AUTH"))
    key = _api_key_value(ctx) if auth == "api_key" else None
    url = ctx.names.rest_api_url(found.rest_api_ids[0])
    return Upstream(url=url, service="execute-api", auth=auth, open_path="/gallery", api_key=key)


def stage_dashboards(ctx: Context) -> Upstream:
    """The stage's domain, signed for the ``es`` service, opened at the shipped dashboard."""
    from localdev.aws.deploy import SearchTarget, dashboards_base_for

    outputs = stack.outputs(stack.describe(ctx.client("cloudformation"), ctx.stack_name))
    if not outputs:
        raise DeployError(f"stage {ctx.stage} is not deployed: make deploy STAGE={ctx.stage}")
    base = dashboards_base_for(ctx, outputs, SearchTarget(endpoint="", domain_arn=None))
    if not base:
        raise DeployError(
            f"stage {ctx.stage} uses {outputs.get('SearchEndpoint')}, not an AWS domain: open "
            "its Dashboards directly"
        )
    split = urlsplit(base)
    path = dashboards.dashboard_url(split.path)  # /_dashboards/app/dashboards#/view/...
    return Upstream(
        url=f"{split.scheme}://{split.netloc}", service="es", auth="iam", open_path=path
    )


def _api_key_value(ctx: Context) -> str:
    from localdev.aws import api_keys

    apigateway = ctx.client("apigateway")
    keys = api_keys.find_keys(apigateway, ctx.resource_name)
    if not keys:
        raise DeployError(f"stage {ctx.stage} has API_AUTH=api_key but no key: run make deploy")
    return apigateway.get_api_key(apiKey=keys[0]["id"], includeValue=True)["value"]


def serve(ctx: Context, upstream: Upstream, port: int) -> int:
    from localdev.proxy.__main__ import main as proxy_main

    return proxy_main(upstream.proxy_arguments(ctx.region, port))
