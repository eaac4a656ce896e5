"""Imports the saved objects (dashboards/image-label-search.ndjson) into Kibana or Dashboards.

One multipart POST to ``<base>/api/saved_objects/_import?overwrite=true``, so a re-import
replaces the objects (their ids are fixed) instead of duplicating them. The base is

* ``https://<domain endpoint>/_dashboards`` for Amazon OpenSearch Service (OpenSearch engines),
* ``https://<domain endpoint>/_plugin/kibana`` for Elasticsearch 7.x domains,
* any URL given, e.g. ``http://localhost:5601`` for a local Kibana or Dashboards.

Both ``osd-xsrf`` (OpenSearch Dashboards) and ``kbn-xsrf`` (Kibana) are sent; each ignores the
other's. Requests to ``*.amazonaws.com`` are signed with SigV4 (service ``es``) with the caller's
credentials, which the domain's access policy must admit (deploy adds the deploying identity).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

from chalicelib.search_client import uses_aws_signing

SAVED_OBJECTS_PATH = (
    Path(__file__).resolve().parents[2] / "dashboards" / "image-label-search.ndjson"
)
DASHBOARD_ID = "image-label-search-overview"
IMPORT_PATH = "/api/saved_objects/_import"
TIMEOUT_SECONDS = 60


class ImportFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class ImportResult:
    url: str
    success_count: int

    @property
    def dashboard_url(self) -> str:
        return dashboard_url(self.url)


def base_url_for_domain(endpoint: str, engine_version: str) -> str:
    """Where a managed domain serves its UI, by engine."""
    prefix = "/_plugin/kibana" if engine_version.startswith("Elasticsearch_") else "/_dashboards"
    return endpoint.rstrip("/") + prefix


def dashboard_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/app/dashboards#/view/{DASHBOARD_ID}"


def import_saved_objects(
    base_url: str,
    region: str,
    session=None,
    ndjson: bytes | None = None,
) -> ImportResult:
    body = ndjson if ndjson is not None else SAVED_OBJECTS_PATH.read_bytes()
    auth = None
    if uses_aws_signing(base_url):
        import boto3
        from requests_aws4auth import AWS4Auth

        credentials = (session or boto3.Session()).get_credentials()
        auth = AWS4Auth(region=region, service="es", refreshable_credentials=credentials)
    try:
        response = requests.post(
            base_url.rstrip("/") + IMPORT_PATH,
            params={"overwrite": "true"},
            headers={"osd-xsrf": "true", "kbn-xsrf": "true"},
            files={"file": ("image-label-search.ndjson", body, "application/ndjson")},
            auth=auth,
            timeout=TIMEOUT_SECONDS,
        )
    except (requests.ConnectionError, requests.Timeout) as error:
        # One line for the user, not urllib3's chain of retries and socket errors.
        kind = "timed out" if isinstance(error, requests.Timeout) else "nothing answers"
        raise ImportFailed(
            f"cannot reach Dashboards/Kibana at {base_url} ({kind}): check URL= (a local "
            "Dashboards or Kibana listens on http://localhost:5601 by default) and that it runs"
        ) from None
    if response.status_code != 200:
        raise ImportFailed(
            f"{base_url}{IMPORT_PATH} answered {response.status_code}: {response.text[:500]}"
        )
    result = response.json()
    if not result.get("success"):
        raise ImportFailed(f"import reported errors: {result.get('errors')}")
    return ImportResult(url=base_url.rstrip("/"), success_count=int(result.get("successCount", 0)))
