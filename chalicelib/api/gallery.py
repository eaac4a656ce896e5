"""The gallery page and its security headers, built once per cold start."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

PAGE_PATH = Path(__file__).resolve().parents[1] / "gallery" / "index.html"


@dataclass(frozen=True)
class GalleryPage:
    body: str
    headers: dict[str, str]


def gallery_page(region: str, environ: Mapping[str, str]) -> GalleryPage:
    page = PAGE_PATH.read_text()
    return GalleryPage(body=page, headers=security_headers(page, region, environ))


def security_headers(page: str, region: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The page's Content-Security-Policy and friends.

    The page's one inline script and one inline style may run because their sha256 hashes are
    listed (edit the page and the hashes follow). Images and the browser's upload go to S3:
    the stage's S3 endpoint when one is configured (local runs: moto on 127.0.0.1), else S3's
    hosts in the stage's region. Through the signing proxy the upload goes to the page's own
    origin instead.
    """
    policy = {
        "default-src": "'self'",
        "script-src": _hashes(page, "script"),
        "style-src": _hashes(page, "style"),
        "img-src": f"'self' {_s3_sources(region, environ)}",
        # The page uploads with fetch(), not a form.
        "connect-src": f"'self' {_s3_sources(region, environ)}",
        "form-action": "'none'",
        "base-uri": "'none'",
        "object-src": "'none'",
        "frame-ancestors": "'none'",
    }
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": "; ".join(f"{k} {v}" for k, v in policy.items()),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def _hashes(page: str, tag: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
    digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()) for b in blocks)
    return " ".join(f"'sha256-{digest.decode()}'" for digest in digests) or "'none'"


def _s3_sources(region: str, environ: Mapping[str, str]) -> str:
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        return f"{parts.scheme}://{parts.netloc}"
    # Presigned URLs are virtual-hosted (bucket.s3[.region].amazonaws.com) or, for bucket names
    # with dots, path-style (s3[.region].amazonaws.com/bucket): S3's hosts only, not all of AWS.
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    hosts = [f"*.s3.{domain}", f"*.s3.{region}.{domain}", f"s3.{domain}", f"s3.{region}.{domain}"]
    return " ".join(f"https://{host}" for host in hosts)
