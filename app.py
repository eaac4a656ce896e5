"""Image Label Search: routes and event handlers only; the work lives in chalicelib/."""

import os

from chalice import Chalice, Response

from chalicelib.api.gallery import gallery_page
from chalicelib.api.http import error_response, json_api, request_body, route_options
from chalicelib.api.params import LABELS_PARAMS, SEARCH_PARAMS
from chalicelib.components import Components
from chalicelib.logs import use_json_logs
from chalicelib.rate import maximum_concurrency
from chalicelib.settings import Settings

app = Chalice(app_name="image-label-search", configure_logs=False)
components = Components()
# JSON lines with the request id from every function, at LOG_LEVEL (chalicelib/logs.py).
use_json_logs(app, lambda: components.logger)

# The event source, auth and CORS are fixed when the app is packaged, so they are read at import
# time (chalice sets the stage's environment variables before importing this module).
deployment = Settings.from_environ()
ROUTE = route_options(deployment)
GALLERY = gallery_page(deployment.region, os.environ)


class BatchNotFullyProcessed(Exception):
    """Raised instead of returning batchItemFailures when partial responses are switched off."""


@app.on_sqs_message(
    queue=deployment.queue_name,
    queue_arn=deployment.queue_arn,
    batch_size=deployment.batch_size,
    maximum_batching_window_in_seconds=deployment.max_batching_window_seconds,
    # Derived from REKOGNITION_TPS (chalicelib/rate.py); None leaves the mapping unbounded.
    maximum_concurrency=maximum_concurrency(deployment),
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
    return forms.form_for(request_body(app.current_request))


@app.route("/gallery", methods=["GET"], **ROUTE)
def gallery():
    return Response(body=GALLERY.body, headers=GALLERY.headers)
