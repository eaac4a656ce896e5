"""A local signing proxy: a deployed stage's API, gallery and Dashboards from this machine.

    python -m localdev.proxy --upstream https://abc123.execute-api.eu-west-1.amazonaws.com/api/ \
        --open /gallery
    python -m localdev.proxy --upstream https://search-x.eu-west-1.es.amazonaws.com \
        --service es --open /_dashboards

From Python (the deploy tooling)::

    signer = make_signer("iam", service="execute-api", region="eu-west-1")
    with serve(api_url, signer, port=0) as proxy:
        print(f"{proxy.url}/gallery")
        proxy.wait()
"""

from localdev.proxy.server import RunningProxy, serve
from localdev.proxy.signing import (
    ApiKeySigner,
    NoCredentials,
    NoSigner,
    SigV4Signer,
    default_auth,
    infer_region,
    make_signer,
)

__all__ = [
    "ApiKeySigner",
    "NoCredentials",
    "NoSigner",
    "RunningProxy",
    "SigV4Signer",
    "default_auth",
    "infer_region",
    "make_signer",
    "serve",
]
