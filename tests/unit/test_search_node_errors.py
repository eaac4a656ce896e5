"""`make search-node` without Maven: one line naming what to install, no traceback."""

from __future__ import annotations

import pytest

from localdev.search_node import fetch


def test_missing_maven_is_one_line_naming_the_packages(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError) as raised:
        fetch.run_maven("--version")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("Maven (mvn) is not installed")
    assert "apt-get install openjdk-17-jdk-headless maven" in message
