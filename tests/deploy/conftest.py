"""Fixtures for the deploy tooling: a moto server, AWS settings that point at it, a project copy.

Every AWS call (boto3 here and in the ``chalice`` subprocess) goes to the moto server through
``AWS_ENDPOINT_URL``; shared config and credential files are switched off so that nothing on
the machine can redirect a call to a real account.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest
import requests

from tests.deploy.moto_server import running_moto

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# What chalice packages and deploys, plus the files deploy reads and writes.
PROJECT_FILES = ["app.py", "requirements.txt", "chalicelib"]


@pytest.fixture(scope="session")
def moto_url():
    with running_moto() as url:
        yield url


@pytest.fixture
def aws(moto_url, monkeypatch, tmp_path):
    """A clean moto account (us-east-1) for one test; returns a boto3 session bound to it."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return boto3.Session(region_name="us-east-1")


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the chalice project, as a clone has it (deploy writes into its .deploy/)."""
    return copy_project(tmp_path / "project")


def copy_project(target: Path) -> Path:
    target.mkdir()
    for name in PROJECT_FILES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    (target / ".chalice").mkdir()
    shutil.copy2(PROJECT_ROOT / ".chalice" / "config.json", target / ".chalice" / "config.json")
    return target
