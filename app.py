"""Image Label Search: routes and event handlers only; the work lives in chalicelib/."""

import os

from chalice import Chalice, Response

from chalicelib.api.gallery import gallery_page
from chalicelib.api.health import cluster_health
from chalicelib.api.http import json_api, request_body, route_options
from chalicelib.api.params import LABELS_PARAMETERS, SEARCH_PARAMETERS
from chalicelib.api.uploads import enabled_forms
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


@app.on_sqs_message(
    queue=deployment.queue_name,
    queue_arn=deployment.queue_arn,
    batch_size=deployment.batch_size,
    maximum_batching_window_in_seconds=deployment.max_batching_window_seconds,
    # Derived from REKOGNITION_TPS (chalicelib/rate.py); None leaves the mapping unbounded.
    maximum_concurrency=maximum_concurrency(deployment),
)
def index_images(event):
    return components.ingestor.handle(record.to_dict() for record in event)


@app.route("/search", methods=["GET"], **ROUTE)
@json_api(app, SEARCH_PARAMETERS)
def search(request):
    return components.search_service.search(request)


@app.route("/labels", methods=["GET"], **ROUTE)
@json_api(app, LABELS_PARAMETERS)
def labels(request):
    return components.search_service.labels(request)


@app.route("/images/{image_id}", methods=["GET"], **ROUTE)
@json_api(app)
def image(image_id):
    return components.search_service.image(image_id)


@app.route("/health", methods=["GET"], **ROUTE)
@json_api(app)
def health():
    return cluster_health(components.store)


@app.route("/uploads", methods=["POST"], **ROUTE)
@json_api(app)
def create_upload():
    return enabled_forms(components.upload_forms).form_for(request_body(app.current_request))


@app.route("/gallery", methods=["GET"], **ROUTE)
def gallery():
    return Response(body=GALLERY.body, headers=dict(GALLERY.headers))
