import pytest
from chalice import IAMAuthorizer

from chalicelib.api.http import route_options
from chalicelib.settings import ConfigurationError, Settings


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
