import os
import subprocess
import sys
from pathlib import Path

import pytest
from chalice import IAMAuthorizer

from chalicelib.api.http import route_options
from chalicelib.settings import ConfigurationError, Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_defaults_without_environment():
    settings = Settings.from_environ({})
    assert settings == Settings()
    assert (settings.batch_size, settings.index_alias, settings.search_endpoint) == (
        10,
        "imagerepository",
        None,
    )


def test_values_are_read_and_typed():
    settings = Settings.from_environ(
        {
            "AWS_REGION": "eu-west-1",
            "BATCH_SIZE": "25",
            "MIN_CONFIDENCE": "55.5",
            "DETECT_FACES": "yes",
            "AWS_RETRY_MODE": "ADAPTIVE",
            "SEARCH_ENDPOINT": " https://search-x.eu-west-1.es.amazonaws.com ",
            "API_AUTH": "iam",
        }
    )
    assert settings.region == "eu-west-1"
    assert settings.batch_size == 25 and settings.min_confidence == 55.5
    assert settings.detect_faces is True and settings.aws_retry_mode == "adaptive"
    assert settings.search_endpoint == "https://search-x.eu-west-1.es.amazonaws.com"
    assert settings.api_auth == "iam"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("BATCH_SIZE", "ten", "must be an integer"),
        ("BATCH_SIZE", "0", "between 1 and 10000"),
        ("MIN_CONFIDENCE", "101", "between 0 and 100"),
        ("DETECT_TEXT", "perhaps", "true or false"),
        ("AWS_RETRY_MODE", "legacy", "standard, adaptive"),
        ("PRESIGN_EXPIRY_SECONDS", "86400", "between 1 and 3600"),
    ],
)
def test_invalid_values_name_the_variable(variable, value, says):
    with pytest.raises(ConfigurationError, match=variable) as raised:
        Settings.from_environ({variable: value})
    assert says in str(raised.value)


def test_route_options_per_auth_mode():
    assert route_options(Settings(api_auth="none")) == {}
    assert route_options(Settings(api_auth="api_key")) == {"api_key_required": True}
    iam = route_options(Settings(api_auth="iam", cors_allow_origin="https://example.com"))
    assert isinstance(iam["authorizer"], IAMAuthorizer)
    assert iam["cors"].allow_origin == "https://example.com"


LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "image-label-search-dev-index_images"}


@pytest.mark.parametrize("endpoint", [None, "", "   "])
def test_deployed_function_without_search_endpoint_refuses_to_start(endpoint):
    environ = dict(LAMBDA) if endpoint is None else {**LAMBDA, "SEARCH_ENDPOINT": endpoint}
    with pytest.raises(ConfigurationError, match="SEARCH_ENDPOINT") as raised:
        Settings.from_environ(environ)
    message = str(raised.value)
    assert "image-label-search-dev-index_images" in message
    assert "make deploy STAGE=<stage>" in message


SECRET = "s" * 43  # what secrets.token_urlsafe(32) would give, in length


def test_deployed_function_with_search_endpoint_and_cursor_secret_starts():
    settings = Settings.from_environ(
        {**LAMBDA, "SEARCH_ENDPOINT": "https://search.example", "CURSOR_SECRET": SECRET}
    )
    assert settings.search_endpoint == "https://search.example"
    assert settings.cursor_secret == SECRET
    assert SECRET not in repr(settings)


def test_deployed_function_without_cursor_secret_refuses_to_start():
    with pytest.raises(ConfigurationError, match="CURSOR_SECRET is not set") as raised:
        Settings.from_environ({**LAMBDA, "SEARCH_ENDPOINT": "https://search.example"})
    assert "image-label-search-dev-index_images" in str(raised.value)


def test_a_short_cursor_secret_is_refused_everywhere():
    with pytest.raises(ConfigurationError, match="at least 32 characters, got 8"):
        Settings.from_environ({"CURSOR_SECRET": "12345678"})


def test_image_bucket_is_read():
    assert Settings.from_environ({"IMAGE_BUCKET": " photos "}).image_bucket == "photos"
    assert Settings.from_environ({}).image_bucket is None


def test_local_run_without_search_endpoint_uses_the_embedded_store():
    # `make run` relies on this: no Lambda, no endpoint -> the SQLite store.
    assert Settings.from_environ({"SEARCH_ENDPOINT": ""}).search_endpoint is None


def test_app_import_fails_in_lambda_without_search_endpoint():
    # app.py reads the settings at import time, which in Lambda is the function's init phase.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("SEARCH_ENDPOINT", "PYTHONPATH")
    }
    env.update(LAMBDA, AWS_DEFAULT_REGION="us-east-1", QUEUE_NAME="image-label-search-dev-uploads")
    result = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("chalicelib.settings.ConfigurationError: SEARCH_ENDPOINT is not")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BATCH_SIZE", "abc", "BATCH_SIZE must be an integer between 1 and 10000, got 'abc'"),
        ("MIN_CONFIDENCE", "high", "MIN_CONFIDENCE must be a number between 0 and 100, got 'high'"),
    ],
)
def test_a_value_that_is_not_a_number_names_the_allowed_range(variable, value, message):
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_environ({variable: value})
    assert str(raised.value) == message
