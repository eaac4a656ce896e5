"""Builds the Elasticsearch client for the configured endpoint.

* ``https://...amazonaws.com`` (Amazon OpenSearch Service / Amazon Elasticsearch Service):
  requests are signed with SigV4. ``refreshable_credentials`` makes AWS4Auth re-read the
  Lambda role's credentials (and session token) on every request, so a warm container keeps
  working after its first credentials expire.
* any endpoint with SEARCH_USERNAME/SEARCH_PASSWORD: HTTP basic auth (fine-grained access
  control's internal user database).
* ``http://localhost:9200`` and other endpoints: no auth.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from elasticsearch import Elasticsearch, RequestsHttpConnection

from chalicelib.settings import Settings


def uses_aws_signing(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    return host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn")


def create_search_client(settings: Settings, session=None) -> Elasticsearch:
    endpoint = settings.search_endpoint
    if not endpoint:
        raise ValueError("SEARCH_ENDPOINT is not set")
    auth = None
    if settings.search_username:
        auth = (settings.search_username, settings.search_password or "")
    elif uses_aws_signing(endpoint):
        auth = _sigv4_auth(settings.region, session)
    # Only RequestsHttpConnection hands ``http_auth`` to requests as an auth object, which is
    # what AWS4Auth is.
    return Elasticsearch(
        [endpoint],
        http_auth=auth,
        connection_class=RequestsHttpConnection,
        timeout=settings.search_timeout_seconds,
        max_retries=2,
        retry_on_timeout=True,
    )


def _sigv4_auth(region: str, session=None):
    import boto3
    from requests_aws4auth import AWS4Auth

    credentials = (session or boto3.Session()).get_credentials()
    return AWS4Auth(region=region, service="es", refreshable_credentials=credentials)
