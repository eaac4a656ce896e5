"""The one place that decides how a request to a deployed stage is authorized.

The proxy and ``localdev.cli search`` both ask a signer for the headers to add to a request:

* ``iam``: a SigV4 signature (``execute-api`` for the API stage, ``es`` for the search domain),
  made from credentials re-read on every request, so SSO and assumed-role credentials refresh
  themselves and the session token goes along;
* ``api_key``: the stage's ``x-api-key``;
* ``none``: nothing (local runs, open stages).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

AUTH_MODES = ("iam", "api_key", "none")
SERVICES = ("execute-api", "es")
NO_CREDENTIALS_MESSAGE = (
    "no AWS credentials found: run `aws sso login` (or `aws configure`), set AWS_PROFILE, "
    "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)
# https://<id>.execute-api.<region>.amazonaws.com and https://<domain>.<region>.es.amazonaws.com
# (and their .cn forms): the region is part of the host name.
_AWS_HOST = re.compile(
    r"\.(?:execute-api\.(?P<api>[a-z0-9-]+)|(?P<es>[a-z0-9-]+)\.es)"
    r"\.amazonaws\.com(?:\.cn)?$"
)


class NoCredentials(Exception):
    """No AWS credentials could be found (the message says what to do)."""

    def __init__(self, message: str = NO_CREDENTIALS_MESSAGE):
        super().__init__(message)


class NoSigner:
    """Forwards requests as they are."""

    replaces: frozenset[str] = frozenset()

    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict:
        return {}


class ApiKeySigner:
    """Adds the stage's API key; API Gateway checks it against the usage plan."""

    replaces = frozenset({"x-api-key"})

    def __init__(self, api_key: str):
        if not api_key:
            raise ValueError("api_key mode needs an API key (--api-key)")
        self._api_key = api_key

    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict:
        return {"x-api-key": self._api_key}


class SigV4Signer:
    """SigV4 with botocore, from a boto3 session's (possibly refreshing) credentials."""

    # A caller's own signature headers would contradict ours: the proxy drops them.
    replaces = frozenset(
        {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}
    )

    def __init__(self, service: str, region: str, session: boto3.Session | None = None):
        self.service = service
        self.region = region
        self._session = session or boto3.Session()
        self._frozen_credentials()  # refuse to start without credentials, not at the 1st request

    def _frozen_credentials(self):
        credentials = self._session.get_credentials()
        if credentials is None:
            raise NoCredentials()
        # Refreshable credentials (SSO, assumed roles) renew themselves inside this call.
        return credentials.get_frozen_credentials()

    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict:
        """The headers that authorize ``method url`` with ``body``: Authorization, X-Amz-Date
        and, for temporary credentials, X-Amz-Security-Token.

        Only Host and Content-Type are signed besides the x-amz-* headers: the other headers
        a browser sends may be changed on the way (proxies, CDNs), and a signed header that
        changes breaks the signature. ``url`` must be exactly the URL that is sent.
        """
        signed = {
            "host": urlsplit(url).netloc,
            # The payload hash as a signed header: some services need it (OpenSearch Serverless),
            # API Gateway and OpenSearch Service accept it.
            "x-amz-content-sha256": hashlib.sha256(body or b"").hexdigest(),
        }
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
        if content_type is not None:
            signed["content-type"] = content_type
        request = AWSRequest(method=method, url=url, data=body or b"", headers=signed)
        SigV4Auth(self._frozen_credentials(), self.service, self.region).add_auth(request)
        return {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in ("host", "content-type")
        }


def infer_region(url: str) -> str | None:
    """The region in an API Gateway or OpenSearch Service host name, else None."""
    match = _AWS_HOST.search(urlsplit(url).hostname or "")
    return (match.group("api") or match.group("es")) if match else None


def default_auth(url: str) -> str:
    """``iam`` for AWS's own API and search hosts (they sign), ``none`` for anything else."""
    return "iam" if infer_region(url) else "none"


def make_signer(
    auth: str,
    *,
    service: str = "execute-api",
    region: str | None = None,
    api_key: str | None = None,
    session: boto3.Session | None = None,
):
    """A signer for one of AUTH_MODES; raises NoCredentials for ``iam`` without credentials."""
    if auth == "none":
        return NoSigner()
    if auth == "api_key":
        return ApiKeySigner(api_key or "")
    if auth != "iam":
        raise ValueError(f"auth must be one of {', '.join(AUTH_MODES)}, got {auth!r}")
    if service not in SERVICES:
        raise ValueError(f"service must be one of {', '.join(SERVICES)}, got {service!r}")
    session = session or boto3.Session()
    region = region or session.region_name
    if not region:
        raise ValueError("no region: pass --region or export AWS_DEFAULT_REGION=<region>")
    return SigV4Signer(service, region, session)
