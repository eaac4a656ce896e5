"""A copy of the project's `.chalice/` whose stage runs with extra environment variables.

``chalice.test.Client(app, stage_name=..., project_dir=...)`` reads the stage's environment
from the copy, so tests and benchmarks run the real configuration pointed at a local node
without touching the clone's own config.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def stage_copy(target: Path, stage: str = "dev", **variables: str) -> Path:
    """Copy `.chalice/` into ``target`` with ``variables`` added to ``stage``; returns target."""
    shutil.copytree(PROJECT_ROOT / ".chalice", target / ".chalice")
    path = target / ".chalice" / "config.json"
    config = json.loads(path.read_text())
    config["stages"][stage]["environment_variables"].update(variables)
    path.write_text(json.dumps(config))
    return target
