"""Log lines survive whatever a hostile message quotes, and every function writes JSON lines
through one logger with its Lambda request id, at LOG_LEVEL."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

import app as app_module
from chalicelib.components import Components
from chalicelib.ingest import BatchIngestor
from chalicelib.logs import LOGGER_NAME, JsonFormatter, get_logger
from chalicelib.settings import Settings
from chalicelib.store.base import StoreUnavailable
from tests.samples import s3_event_body, sqs_record
from tests.unit.test_ingest import FakeLabeler, FakeStore


def test_a_lone_surrogate_is_written_as_its_escape_and_the_line_stays_json():
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "message failed", None, None)
    record.body = '{"\ud800": null}'
    record.key = "café/\ud83d.jpg"
    line = JsonFormatter().format(record)
    line.encode("utf-8")  # what a stream does with it: must not raise
    assert "\\ud800" in line and "café" in line
    assert json.loads(line)["message"] == "message failed"


class LambdaContext:
    """The attributes of Lambda's context object that the logs read."""

    def __init__(self, function_name: str, request_id: str):
        self.function_name = function_name
        self.aws_request_id = request_id


class UnavailableSearch:
    def search(self, params):
        raise StoreUnavailable("ConnectionError: connection refused by 10.0.0.7:443")


@pytest.fixture
def project_logger():
    """The project's logger as the first invocation of a fresh execution environment finds it
    (no handler yet), restored afterwards for the other tests."""
    logger = logging.getLogger(LOGGER_NAME)
    saved = (list(logger.handlers), logger.propagate, logger.level)
    for handler in saved[0]:
        logger.removeHandler(handler)
    # A fresh logger propagates; one that an earlier test configured does not, and pytest's
    # log capture then attaches its handlers to it, which get_logger takes for configured.
    logger.propagate = True
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for handler in saved[0]:
        logger.addHandler(handler)
    logger.propagate, logger.level = saved[1], saved[2]


def stage(serve_components, log_level="INFO", **parts) -> Components:
    return serve_components(
        Components(settings=Settings(log_level=log_level, stage="test"), **parts)
    )


def lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


def api_event(path: str) -> dict:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "GET",
        "headers": {"Accept": "*/*"},
        "multiValueHeaders": {},
        "queryStringParameters": {"label": "Dog"},
        "multiValueQueryStringParameters": {"label": ["Dog"]},
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": "GET", "path": f"/api{path}"},
        "body": None,
        "isBase64Encoded": False,
    }


def test_the_apis_503_is_a_json_line_with_its_reason_and_request_id(
    serve_components, capsys, project_logger
):
    stage(serve_components, search_service=UnavailableSearch())
    context = LambdaContext("image-label-search-test", "9f3c0b7e-api")
    response = app_module.app(api_event("/search"), context)
    assert response["statusCode"] == 503
    [line] = lines(capsys)
    assert line == {
        "level": "WARNING",
        "logger": LOGGER_NAME,
        "message": "search cluster unavailable",
        "request_id": "9f3c0b7e-api",
        "function_name": "image-label-search-test",
        "reason": "ConnectionError: connection refused by 10.0.0.7:443",
    }
    assert project_logger.propagate is False  # Lambda's root handler would print it twice


def test_the_indexers_lines_carry_the_request_id_of_their_invocation(
    serve_components, capsys, project_logger
):
    labeler, store = FakeLabeler(), FakeStore()
    stage(serve_components, labeler=labeler, store=store)
    for request_id in ("req-1", "req-2"):
        event = {
            "Records": [
                sqs_record(
                    f"m-{request_id}", s3_event_body("ObjectCreated:Put", f"{request_id}.jpg")
                )
            ]
        }
        context = LambdaContext("image-label-search-test-index_images", request_id)
        assert app_module.index_images(event, context) == {"batchItemFailures": []}
        logged = lines(capsys)
        assert {line["request_id"] for line in logged} == {request_id}
        assert {line["function_name"] for line in logged} == {context.function_name}
        [image] = [line for line in logged if line.get("message") == "image indexed"]
        assert (image["logger"], image["key"]) == (LOGGER_NAME, f"{request_id}.jpg")


def test_lines_between_invocations_carry_no_stale_request_id(
    serve_components, capsys, project_logger
):
    stage(serve_components, search_service=UnavailableSearch())
    app_module.app(api_event("/search"), LambdaContext("fn", "req-old"))
    capsys.readouterr()
    logging.getLogger(LOGGER_NAME).warning("outside any invocation")
    [line] = lines(capsys)
    assert "request_id" not in line and "function_name" not in line


def test_log_level_is_honoured_by_every_function(serve_components, capsys, project_logger):
    labeler, store = FakeLabeler(), FakeStore()
    stage(serve_components, log_level="WARNING", labeler=labeler, store=store)
    event = {"Records": [sqs_record("m-1", s3_event_body("ObjectCreated:Put", "quiet.jpg"))]}
    app_module.index_images(event, LambdaContext("fn-index_images", "req-quiet"))
    # INFO lines ("image indexed") are dropped; the EMF metrics line is not a log line.
    assert [line for line in lines(capsys) if "_aws" not in line] == []
    assert project_logger.level == logging.WARNING


def test_the_ingestors_worker_threads_log_with_the_invocation(
    serve_components, capsys, project_logger
):
    """A line written from a Rekognition worker thread still names its invocation."""

    class LoggingLabeler(FakeLabeler):
        def analyze(self, bucket, key, version_id=None):
            logging.getLogger(LOGGER_NAME).warning("from the pool", extra={"key": key})
            return super().analyze(bucket, key, version_id)

    store, logger = FakeStore(), get_logger("INFO")
    ingestor = BatchIngestor(
        labeler=LoggingLabeler(),
        store=store,
        executor=ThreadPoolExecutor(2),
        region="us-east-1",
        logger=logger,
    )
    stage(serve_components, store=store, logger=logger, ingestor=ingestor)
    event = {"Records": [sqs_record("m-1", s3_event_body("ObjectCreated:Put", "a.jpg"))]}
    app_module.index_images(event, LambdaContext("fn-index_images", "req-pool"))
    [pooled] = [line for line in lines(capsys) if line.get("message") == "from the pool"]
    assert pooled["request_id"] == "req-pool"


def test_chalices_own_error_line_is_json_from_the_same_logger(
    serve_components, capsys, project_logger
):
    class BrokenSearch:
        def search(self, params):
            raise RuntimeError("a bug")

    stage(serve_components, search_service=BrokenSearch())
    response = app_module.app(api_event("/search"), LambdaContext("fn", "req-bug"))
    assert response["statusCode"] == 500
    [line] = lines(capsys)
    assert (line["level"], line["logger"], line["request_id"]) == ("ERROR", LOGGER_NAME, "req-bug")
    assert line["message"] == "Caught exception for path /search"
    assert "RuntimeError: a bug" in line["exception"]
