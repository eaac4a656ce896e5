"""Reads and updates ``.chalice/config.json`` for one stage, keeping everything else intact.

Reads go through chalice's own ``Config`` so per-function, per-stage and top-level values are
looked up and merged exactly as ``chalice deploy`` will. Writes touch only the keys deploy owns
under ``stages.<stage>`` and keep the file's key order and layout (2-space JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.config import Config

from chalicelib.settings import TRUE_WORDS, Settings, variable_named
from localdev.aws.policy import INDEX_HANDLER

DEFAULT_LAMBDA_TIMEOUT = 60  # chalice's default when config.json sets none
# Settings app.py reads at import to build the SQS event source (chalicelib/rate.py).
IMPORT_TIME_SETTINGS = ("REKOGNITION_TPS",)


def config_path(project_dir: Path) -> Path:
    return project_dir / ".chalice" / "config.json"


def load(project_dir: Path) -> dict[str, Any]:
    return json.loads(config_path(project_dir).read_text())


def save(project_dir: Path, config: dict[str, Any]) -> bool:
    """Writes the file only when its content changes; returns whether it did."""
    path = config_path(project_dir)
    text = json.dumps(config, indent=2) + "\n"
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


@dataclass(frozen=True)
class StageView:
    """What deploy needs to know about a stage, as chalice resolves it.

    The stage's variables are read through chalicelib/settings.py's table, as its functions
    read them; the few reads below are more lenient than ``Settings.from_environ`` on purpose,
    so that preflight can name every problem instead of stopping at the first.
    """

    app_name: str
    stage: str
    environment: dict[str, str]
    index_timeout: int
    api_gateway_stage: str

    def settings(self, **overrides: str) -> Settings:
        """The stage's settings as its functions parse them, with ``overrides`` applied
        (the region and search endpoint, which the stack and the caller decide)."""
        return Settings.from_environ({**self.environment, **overrides})

    def is_set(self, name: str) -> bool:
        return variable_named(name).raw(self.environment) is not None

    def value(self, name: str):
        """One variable, parsed by its row of the table (its default when unset)."""
        return variable_named(name).read(self.environment)

    def flag(self, name: str) -> bool:
        """True only for a true word; anything else (an invalid value too) is off."""
        raw = variable_named(name).raw(self.environment)
        return raw is not None and raw.lower() in TRUE_WORDS

    def int_value(self, name: str, default: int | None = None) -> int:
        """An integer without the table's bounds (ValueError when it is none), so the caller can
        report a value out of range with its own reason; unset: ``default``, else the table's."""
        raw = variable_named(name).raw(self.environment)
        if raw is not None:
            return int(raw)
        return variable_named(name).default() if default is None else default


def stage_view(config: dict[str, Any], stage: str) -> StageView:
    if stage not in config.get("stages", {}):
        raise ValueError(
            f"stage {stage!r} is not in .chalice/config.json (stages: "
            f"{', '.join(config.get('stages', {})) or 'none'})"
        )
    indexer = Config(chalice_stage=stage, function_name=INDEX_HANDLER, config_from_disk=config)
    _check_import_time_settings(config, stage, indexer.environment_variables)
    return StageView(
        app_name=config["app_name"],
        stage=stage,
        environment={k: str(v) for k, v in indexer.environment_variables.items()},
        index_timeout=int(indexer.lambda_timeout or DEFAULT_LAMBDA_TIMEOUT),
        api_gateway_stage=indexer.api_gateway_stage or "api",
    )


def _check_import_time_settings(config: dict[str, Any], stage: str, indexer_environment) -> None:
    """A setting app.py turns into the event source must reach app.py's import, which chalice
    runs with the stage's and the top-level variables only (chalice/cli/factory.py), never a
    function's: set per function, the indexer would obey it but its mapping would not."""
    imported = Config(chalice_stage=stage, config_from_disk=config).environment_variables
    for name in IMPORT_TIME_SETTINGS:
        if indexer_environment.get(name) != imported.get(name):
            raise ValueError(
                f"{name} is set for {INDEX_HANDLER} only; set it in stages.{stage}."
                "environment_variables (or the top-level environment_variables): the event "
                "source's maximum concurrency is derived from it when chalice imports app.py"
            )


def update_stage(
    config: dict[str, Any],
    stage: str,
    environment: dict[str, str | None],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Sets (or, for ``None``, removes) stage environment variables and stage settings."""
    stage_config = config.setdefault("stages", {}).setdefault(stage, {})
    for key, value in settings.items():
        if value is None:
            stage_config.pop(key, None)
        else:
            stage_config[key] = value
    variables = stage_config.setdefault("environment_variables", {})
    for name, value in environment.items():
        if value is None:
            variables.pop(name, None)
        else:
            variables[name] = value
    return config
