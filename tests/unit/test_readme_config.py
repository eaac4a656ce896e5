"""One table of environment variables (chalicelib/settings.py's VARIABLES) drives
Settings.from_environ and the README's configuration table; the README's copy must be current."""

from dataclasses import fields

import pytest

from chalicelib import settings
from chalicelib.settings import VARIABLES, ConfigurationError, Settings
from localdev import config_docs, local_settings


def test_the_readme_table_matches_the_settings_table():
    readme = config_docs.README_PATH.read_text(encoding="utf-8")
    assert config_docs.with_table(readme) == readme, (
        "README.md's configuration table is out of date: run `make config-docs`"
    )


def test_every_settings_field_has_one_variable_in_field_order():
    assert [v.setting for v in VARIABLES] == [f.name for f in fields(Settings)]
    assert len({v.name for v in VARIABLES}) == len(VARIABLES)


def test_the_local_stack_names_settings_as_the_table_does():
    assert local_settings.setting_names() == {v.setting: v.name for v in VARIABLES}


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
def test_each_default_is_the_fields_default(variable):
    assert variable.read({}) == getattr(Settings(), variable.setting)


def test_the_retry_mode_default_follows_the_quota_even_when_listed_after_it():
    assert Settings.from_environ({"REKOGNITION_TPS": "5"}).aws_retry_mode == "adaptive"
    # REKOGNITION_TPS is read first, as before the table: its error wins over a later one.
    with pytest.raises(ConfigurationError, match=r"^REKOGNITION_TPS"):
        Settings.from_environ({"BATCH_SIZE": "x", "REKOGNITION_TPS": "0"})


def test_the_variables_required_in_lambda_are_the_endpoint_and_the_cursor_secret():
    required = [v.name for v in VARIABLES if v.required_in_lambda]
    assert required == ["SEARCH_ENDPOINT", "CURSOR_SECRET"]
    lambda_only = {"AWS_LAMBDA_FUNCTION_NAME": "f"}
    for name in required:
        with pytest.raises(ConfigurationError, match=f"^{name} is not set for the deployed f"):
            settings.variable_named(name).read(lambda_only)


def test_a_generated_row_shows_bounds_default_and_meaning():
    row = next(line for line in config_docs.render_table().splitlines() if "`BATCH_SIZE`" in line)
    assert row == (
        "| `BATCH_SIZE` | `10` | integer 1\u201310,000 | "
        "messages per invocation (above 10 needs a batching window) |"
    )


def test_a_readme_without_the_markers_is_refused():
    with pytest.raises(SystemExit, match="no"):
        config_docs.with_table("# no table here\n")
