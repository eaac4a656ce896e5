"""`make run-once`, the README's main command in its non-interactive form, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_run_once_labels_the_samples_and_exits_cleanly(tmp_path):
    env = {name: value for name, value in os.environ.items() if name != "SEARCH_ENDPOINT"}
    result = subprocess.run(
        [sys.executable, "-m", "localdev.run", "--once", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Search store: SQLite at data/images.sqlite3" in out
    assert "5 images indexed" in out
    cat_line = next(line for line in out.splitlines() if line.strip().startswith("chelsea-cat"))
    assert "Cat" in cat_line and "Animal" in cat_line
    astronaut = next(line for line in out.splitlines() if line.strip().startswith("astronaut"))
    assert "Person" in astronaut and "[1 face(s)]" in astronaut
    assert "Example: GET /search?label=animal" in out
    assert "chelsea-cat.jpg" in out.split("Example:")[1]
    assert "Gallery: http://127.0.0.1:" in out
    # The batches' metric lines go to a file, not between the console's lines.
    assert '"_aws"' not in out
    metrics = [json.loads(line) for line in (ROOT / "data/metrics.jsonl").read_text().splitlines()]
    assert sum(document["Indexed"] for document in metrics) == 5
