"""The gallery's security headers: hashed inline code only, S3's hosts only, never framed."""

from __future__ import annotations

import base64
import hashlib
import re

from chalicelib.api.gallery import PAGE_PATH, gallery_page


def _directives(headers: dict[str, str]) -> dict[str, str]:
    policy = headers["Content-Security-Policy"]
    return dict(part.split(" ", 1) for part in policy.split("; "))


def test_only_the_pages_own_inline_script_may_run():
    page = PAGE_PATH.read_text()
    (script,) = re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    directives = _directives(gallery_page("eu-west-1", {}).headers)
    assert directives["script-src"] == f"'sha256-{digest}'"
    assert "unsafe-inline" not in "".join(directives.values())
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'self'"


def test_images_and_uploads_go_only_to_s3_in_the_stage_region():
    directives = _directives(gallery_page("eu-west-1", {}).headers)
    assert directives["img-src"] == (
        "'self' https://*.s3.amazonaws.com https://*.s3.eu-west-1.amazonaws.com "
        "https://s3.amazonaws.com https://s3.eu-west-1.amazonaws.com"
    )
    assert directives["connect-src"] == directives["img-src"]


def test_a_local_s3_endpoint_is_the_only_other_origin():
    headers = gallery_page("us-east-1", {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:4566/x"}).headers
    assert _directives(headers)["img-src"] == "'self' http://127.0.0.1:4566"


def test_the_page_is_neither_sniffed_nor_leaks_its_url():
    headers = gallery_page("us-east-1", {}).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
