"""The stage's chalice project as deploy runs it: ``.deploy/<stage>/``, git-ignored.

Deploy generates account-specific configuration (queue ARN, search endpoint, role ARNs, the
roles' policies) and chalice writes its own state (``.chalice/deployed/``, the deployment zip
in ``.chalice/deployments/``). Written into the clone, they left tracked files modified after
every deploy with values nobody should commit. Here they are rebuilt on each deploy from the
clone's files and from AWS (localdev/aws/discovery.py), so nothing in the clone changes and
nothing is lost with the folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# What chalice packages (app.py, chalicelib/, requirements.txt) and nothing else.
APP_FILES = ("app.py", "requirements.txt", "chalicelib")
FOLDER = ".deploy"


def stage_dir(project_dir: Path, stage: str) -> Path:
    return project_dir / FOLDER / stage


def prepare(project_dir: Path, stage: str) -> Path:
    """A fresh copy of the app's files; the folder's .chalice/ (config, state) is kept."""
    target = stage_dir(project_dir, stage)
    (target / ".chalice").mkdir(parents=True, exist_ok=True)
    for name in APP_FILES:
        source, copy = project_dir / name, target / name
        if copy.is_dir():
            shutil.rmtree(copy)  # a file removed from the clone must not ship
        if source.is_dir():
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, copy)
    return target


def remove(project_dir: Path, stage: str) -> bool:
    target = stage_dir(project_dir, stage)
    if not target.exists():
        return False
    shutil.rmtree(target)
    return True
