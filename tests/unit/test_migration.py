"""The migration's summary and progress lines, and the local command's error line (no node:
the migration against real nodes is in tests/integration/test_migration.py)."""

from __future__ import annotations

import io
import socket

from localdev import cli
from localdev.migration import MigrationProgress, MigrationResult, Phase, ProgressLine


def test_the_summary_names_the_counts_and_the_kept_index():
    result = MigrationResult(
        "images", ("images-v1",), "images-v2", copied=10_000, caught_up=312, stale=48, seconds=21.26
    )

    assert result.summary() == (
        "images now points at images-v2: copied 10,000, caught up 312, skipped 48 as stale, "
        "in 21.3 s; images-v1 kept read-only until migrate --delete-old"
    )


def test_an_alias_already_on_the_target_is_one_line():
    result = MigrationResult("images", (), "images-v2", migrated=False)

    assert result.summary() == "nothing to do: images already points at images-v2"


def test_the_progress_line_shows_the_phase_and_every_document_read():
    stream = io.StringIO()
    line = ProgressLine(stream)

    line(MigrationProgress(Phase.CATCH_UP, total=1000, copied=1000, caught_up=20, stale=5))
    line.close()

    drawn = stream.getvalue()
    assert drawn.startswith("\rmigrate [") and drawn.endswith("\n")
    assert "1,025/1,025" in drawn and "catch-up" in drawn


def test_an_unreachable_node_is_one_error_line(capsys):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"

    assert cli.main(["migrate", "--endpoint", url, "--alias", "images"]) == 1

    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {url}: ConnectionError: ")
