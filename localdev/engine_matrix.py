"""`make test-engines`: the engine-dependent suites against every engine, one node at a time.

    python -m localdev.engine_matrix                       # every engine of the matrix
    ENGINES="elasticsearch-6.8.23 opensearch-3.8.0" python -m localdev.engine_matrix

Only tests/integration and tests/contract depend on the engine, so only they run per engine
(the embedded-store half of the contract suite is deselected: it never talks to the node).
Each engine's node is fetched (cached), started, tested and stopped before the next one starts,
which keeps two cores and the memory for one node. An engine that cannot be fetched or started
is a failure, never a skip. The table at the end has the counts and wall times per engine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from localdev.search_node import MATRIX, Engine
from localdev.search_node.install import fetch_all, prepare_node
from localdev.search_node.node import start_node

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUITES = ("tests/integration", "tests/contract")
DESELECT = "not sqlite"  # the contract suite's embedded-store half needs no node
SUITE_TIMEOUT = 1200.0  # seconds: a hung suite must not eat CI's 90 minutes


@dataclass
class EngineRun:
    engine: str
    passed: int = 0
    failed: int = 0  # failures and errors
    skipped: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # fetch, start, tests
    problem: str | None = None  # why the engine never got to its tests, or the suite's exit

    @property
    def ok(self) -> bool:
        return self.problem is None and self.failed == 0 and self.skipped == 0 and self.passed > 0

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def suite_counts(junit_xml: Path) -> tuple[int, int, int]:
    """(passed, failed + errors, skipped) from pytest's JUnit XML report."""
    root = ElementTree.parse(junit_xml).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def run_suites(url: str, engine: Engine, pytest_args: list[str], run: EngineRun) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",  # several runs side by side share no state
            f"--junitxml={report}",
            "-k",
            DESELECT,
            *SUITES,
            *pytest_args,
        ]
        env = {**os.environ, "OPENSEARCH_URL": url, "ENGINE": engine.name}
        try:
            code = subprocess.run(
                command, cwd=PROJECT_ROOT, env=env, timeout=SUITE_TIMEOUT
            ).returncode
        except subprocess.TimeoutExpired:
            run.problem = f"the suites did not finish within {SUITE_TIMEOUT:.0f} s"
            return
        if report.is_file():
            run.passed, run.failed, run.skipped = suite_counts(report)
        if code != 0 and run.failed == 0:
            run.problem = f"pytest exited with code {code}"


def run_engine(engine: Engine, pytest_args: list[str]) -> EngineRun:
    run = EngineRun(engine.name)
    print(f"\n=== {engine}: fetch, start, test", flush=True)
    started = time.monotonic()
    try:
        fetch_all(engine)
        prepare_node(engine)
    except (RuntimeError, OSError) as error:
        run.problem = f"could not fetch or unpack: {error}"
        return run
    finally:
        run.seconds["fetch"] = time.monotonic() - started
    started = time.monotonic()
    try:
        node = start_node(engine)
    except (RuntimeError, OSError) as error:
        run.problem = f"could not start: {error}"
        return run
    finally:
        run.seconds["start"] = time.monotonic() - started
    started = time.monotonic()
    try:
        run_suites(node.url, engine, pytest_args, run)
    finally:
        run.seconds["tests"] = time.monotonic() - started
        node.stop()
    return run


def table(runs: list[EngineRun]) -> str:
    header = (
        "| engine | result | passed | failed | skipped | fetch s | start s | tests s | total s |"
    )
    lines = [header, "|" + "---|" * 9]
    for run in runs:
        seconds = [f"{run.seconds.get(step, 0.0):.0f}" for step in ("fetch", "start", "tests")]
        lines.append(
            f"| {run.engine} | {'pass' if run.ok else 'FAIL'} | {run.passed} | {run.failed} | "
            f"{run.skipped} | {' | '.join(seconds)} | {run.total_seconds:.0f} |"
        )
    return "\n".join(lines)


def parse_engines(text: str) -> list[Engine]:
    return [Engine.parse(name) for name in text.replace(",", " ").split()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.engine_matrix",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--engines",
        default=os.environ.get("ENGINES") or " ".join(MATRIX),
        help="space- or comma-separated engine names (default $ENGINES or the whole matrix)",
    )
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    args = parser.parse_args(argv)
    try:
        engines = parse_engines(args.engines)
    except ValueError as error:
        parser.error(str(error))
    if not engines:
        parser.error("no engine given")

    started = time.monotonic()
    runs = [run_engine(engine, args.pytest_args) for engine in engines]
    print(f"\nEngine matrix ({time.monotonic() - started:.0f} s wall):\n{table(runs)}")
    for run in runs:
        if run.problem:
            print(f"{run.engine}: {run.problem}")
    passed, failed = sum(run.passed for run in runs), sum(run.failed for run in runs)
    print(f"engines: {passed} passed, {failed} failed")
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
