"""The local stack's settings: the environment wins over the local defaults, the few values the
stack decides itself are refused rather than silently replaced, and a feature the local
Rekognition cannot serve is refused before anything starts."""

import pytest

from chalicelib.settings import ConfigurationError, Settings
from localdev import local_settings
from localdev.local_settings import LocalSettingConflict

FIXED = {"QUEUE_NAME": "local-q", "UPLOAD_BUCKET": "local-b", "API_AUTH": "none"}


def test_the_environment_wins_over_the_local_defaults():
    environ = {"MIN_CONFIDENCE": "80", "DETECT_FACES": "false"}
    settings = local_settings.function_environment(environ, FIXED, {})
    assert "MIN_CONFIDENCE" not in settings and "DETECT_FACES" not in settings
    parsed = Settings.from_environ({**environ, **settings})
    assert parsed.min_confidence == 80 and parsed.detect_faces is False
    assert parsed.index_replicas == 0  # still the local default


def test_without_the_environment_the_local_defaults_apply():
    settings = local_settings.function_environment({}, FIXED, {})
    parsed = Settings.from_environ(settings)
    assert (parsed.min_confidence, parsed.detect_faces, parsed.index_replicas) == (30, True, 0)
    assert parsed.api_auth == "none" and parsed.queue_name == "local-q"


def test_the_callers_settings_win_over_the_environment():
    settings = local_settings.function_environment({"BATCH_SIZE": "3"}, FIXED, {"BATCH_SIZE": "7"})
    assert settings["BATCH_SIZE"] == "7"


@pytest.mark.parametrize(
    ("name", "value"),
    [("QUEUE_NAME", "mine"), ("UPLOAD_BUCKET", "my-bucket"), ("API_AUTH", "iam")],
)
def test_a_conflicting_fixed_value_is_refused_in_one_line(name, value):
    with pytest.raises(LocalSettingConflict) as error:
        local_settings.function_environment({name: value}, FIXED, {})
    message = str(error.value)
    assert message.startswith(f"{name}={value}: the local stack sets {name} itself")
    assert f"unset {name} for make run" in message and "\n" not in message


def test_repeating_a_fixed_value_is_fine_and_a_queue_arn_never_is():
    local_settings.function_environment({"QUEUE_NAME": "local-q"}, FIXED, {})
    with pytest.raises(LocalSettingConflict, match=r"^QUEUE_ARN=arn:aws:sqs:"):
        local_settings.function_environment({"QUEUE_ARN": "arn:aws:sqs:x:1:q"}, FIXED, {})


@pytest.mark.parametrize(
    ("name", "operation"),
    [("DETECT_TEXT", "DetectText"), ("DETECT_MODERATION_LABELS", "DetectModerationLabels")],
)
def test_features_the_local_rekognition_cannot_serve_are_refused(name, operation):
    with pytest.raises(ConfigurationError) as error:
        local_settings.check_servable(Settings.from_environ({name: "true"}))
    assert str(error.value).startswith(f"{name}=true needs {operation}, which the local")


def test_served_features_pass():
    environ = {"DETECT_FACES": "true", "DETECT_IMAGE_PROPERTIES": "true"}
    local_settings.check_servable(Settings.from_environ(environ))


def test_the_differences_from_the_defaults_name_their_source():
    user = {"MIN_CONFIDENCE": "80", "AWS_REGION": "eu-west-1", "SEARCH_PASSWORD": "secret"}
    function = {
        **user,
        **local_settings.function_environment(user, FIXED, {"BATCH_SIZE": "5"}),
    }
    rows = local_settings.effective_differences(function, user, FIXED, {"BATCH_SIZE": "5"})
    assert rows == [
        ("AWS_REGION", "eu-west-1", "your environment"),
        ("QUEUE_NAME", "local-q", "local stack"),
        ("BATCH_SIZE", "5", "set by the caller"),
        ("MIN_CONFIDENCE", "80", "your environment"),
        ("DETECT_FACES", "true", "local default"),
        ("SEARCH_PASSWORD", "****", "your environment"),
        ("INDEX_REPLICAS", "0", "local default"),
        ("API_AUTH", "none", "local stack"),
        ("UPLOAD_BUCKET", "local-b", "local stack"),
    ]


def test_the_region_comes_from_either_variable():
    assert local_settings.region_from({}) == "us-east-1"
    assert local_settings.region_from({"AWS_DEFAULT_REGION": "eu-west-1"}) == "eu-west-1"
    environ = {"AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert local_settings.region_from(environ) == "ap-south-1"
