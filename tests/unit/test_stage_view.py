"""The deploy tooling reads a stage's variables through chalicelib/settings.py's table."""

import pytest

from chalicelib.settings import ConfigurationError, Settings
from localdev.aws.chalice_config import StageView


def view(**environment: str) -> StageView:
    return StageView("app", "dev", environment, index_timeout=60, api_gateway_stage="api")


def test_unset_values_are_the_settings_defaults():
    stage = view()
    assert stage.int_value("BATCH_SIZE") == Settings.batch_size
    assert stage.int_value("TOMBSTONE_RETENTION_DAYS") == Settings.tombstone_retention_days
    assert stage.value("UPLOAD_PREFIX") == Settings.upload_prefix
    assert stage.value("INDEX_ALIAS") == Settings.index_alias
    assert stage.int_value("INDEX_REPLICAS", 0) == 0  # a caller's own default wins


def test_values_are_stripped_and_parsed_as_the_function_parses_them():
    stage = view(INDEX_ALIAS=" photos ", REKOGNITION_TPS=" ", DETECT_TEXT="Yes", BATCH_SIZE="20")
    assert stage.value("INDEX_ALIAS") == "photos"
    assert not stage.is_set("REKOGNITION_TPS")
    assert stage.flag("DETECT_TEXT") is True
    assert stage.int_value("BATCH_SIZE") == 20
    assert stage.settings(AWS_REGION="eu-west-1").region == "eu-west-1"


def test_lenient_reads_leave_the_reason_to_the_caller():
    stage = view(DETECT_FACES="perhaps", BATCH_SIZE="20000", MAX_LABELS="many")
    assert stage.flag("DETECT_FACES") is False
    assert stage.int_value("BATCH_SIZE") == 20000  # preflight names the bound itself
    with pytest.raises(ValueError):
        stage.int_value("MAX_LABELS")
    with pytest.raises(ConfigurationError, match="MAX_LABELS must be an integer"):
        stage.value("MAX_LABELS")


def test_a_name_outside_the_table_is_refused():
    with pytest.raises(KeyError):
        view().flag("DETECT_TXT")
