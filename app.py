"""Image Label Search: routes and event handlers only; the work lives in chalicelib/."""

import base64
import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from chalice import Chalice, Response

from chalicelib.api.http import error_response, json_api, route_options
from chalicelib.api.params import LABELS_PARAMS, SEARCH_PARAMS
from chalicelib.components import Components
from chalicelib.settings import Settings

app = Chalice(app_name="image-label-search")
components = Components()

# The event source, auth and CORS are fixed when the app is packaged, so they are read at import
# time (chalice sets the stage's environment variables before importing this module).
deployment = Settings.from_environ()
ROUTE = route_options(deployment)
GALLERY_PAGE = (Path(__file__).parent / "chalicelib" / "gallery" / "index.html").read_text()


class BatchNotFullyProcessed(Exception):
    """Raised instead of returning batchItemFailures when partial responses are switched off."""


@app.on_sqs_message(
    queue=deployment.queue_name,
    queue_arn=deployment.queue_arn,
    batch_size=deployment.batch_size,
    maximum_batching_window_in_seconds=deployment.max_batching_window_seconds,
)
def index_images(event):
    failed = components.ingestor.process(record.to_dict() for record in event)
    if failed and not components.settings.partial_batch_response:
        raise BatchNotFullyProcessed(f"{len(failed)} messages failed: {failed}")
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


@app.route("/search", methods=["GET"], **ROUTE)
@json_api(app, SEARCH_PARAMS)
def search(params):
    return components.search_service.search(params)


@app.route("/labels", methods=["GET"], **ROUTE)
@json_api(app, LABELS_PARAMS)
def labels(params):
    return components.search_service.labels(params)


@app.route("/images/{image_id}", methods=["GET"], **ROUTE)
@json_api(app)
def image(params, image_id):
    found = components.search_service.image(image_id)
    return found or error_response(404, f"no image with id {image_id}", "id")


@app.route("/health", methods=["GET"], **ROUTE)
@json_api(app)
def health(params):
    if components.store.ping():
        return {"status": "ok"}
    return error_response(503, "the search cluster is unavailable")


@app.route("/uploads", methods=["POST"], **ROUTE)
@json_api(app)
def create_upload(params):
    forms = components.upload_forms
    if forms is None:
        return error_response(404, "uploads are not enabled on this stage (UPLOAD_BUCKET)")
    return forms.form_for(app.current_request.raw_body)


def gallery_security_headers(page: str, environ=os.environ) -> dict[str, str]:
    """The page's Content-Security-Policy and friends, computed once at import time.

    The page's one inline script and one inline style may run because their sha256 hashes are
    listed (edit the page and the hashes follow). Images and the browser's upload go to S3:
    the stage's S3 endpoint when one is configured (local runs: moto on 127.0.0.1), else AWS's
    S3 hosts. Through the signing proxy the upload goes to the page's own origin instead.
    """

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
        digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()) for b in blocks)
        return " ".join(f"'sha256-{digest.decode()}'" for digest in digests) or "'none'"

    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        s3 = f"{parts.scheme}://{parts.netloc}"
    else:  # virtual-hosted and path-style presigned URLs, in every region of the partition
        domain = "amazonaws.com.cn" if deployment.region.startswith("cn-") else "amazonaws.com"
        s3 = f"https://*.{domain}"
    policy = {
        "default-src": "'self'",
        "script-src": hashes("script"),
        "style-src": hashes("style"),
        "img-src": f"'self' {s3}",
        "connect-src": f"'self' {s3}",  # the page uploads with fetch(), not a form
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


GALLERY_HEADERS = gallery_security_headers(GALLERY_PAGE)


@app.route("/gallery", methods=["GET"], **ROUTE)
def gallery():
    return Response(body=GALLERY_PAGE, headers=GALLERY_HEADERS)
