"""Property-based fuzzing of every entry point, on both stores.

Profiles (chosen by the environment, like CI itself):

* ``ci`` (``CI=true``): derandomized, so a failure reproduces from the same commit, and sized
  so that the fuzz tests generate at least MIN_CI_CASES cases in total (see CASES);
* ``dev`` (otherwise): the same tests with a tenth of the cases and fresh randomness on each
  run, for quick local runs of ``make test``. ``FUZZ_PROFILE=ci`` runs the CI sizes locally.

Both use ``deadline=None`` (a request to the node can take longer than Hypothesis's 200 ms
default on a busy machine) and no example database; Hypothesis's own cache lives in the system
temporary folder, so a run writes nothing into the clone.

At the end of a session that ran them, the terminal summary gives the number of generated cases
per test and the statuses seen; ``artifacts/fuzz-summary.json`` keeps them. In the ci profile a
session that ran every fuzz test and passed fails anyway if they generated fewer than
MIN_CI_CASES cases.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "image-label-search-hypothesis")

MIN_CI_CASES = 5000
PROJECT_ROOT = Path(__file__).resolve().parents[2]

_COMMON = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    # The stores are module fixtures shared by every example on purpose (a node per example
    # would take minutes); generated data can be large by design.
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
}
settings.register_profile("ci", derandomize=True, **_COMMON)
settings.register_profile("dev", **_COMMON)
PROFILE = os.environ.get("FUZZ_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
settings.load_profile(PROFILE)


def cases(ci_examples: int) -> int:
    """A test's number of examples in this profile (the CI figure is the one that counts)."""
    return ci_examples if PROFILE == "ci" else max(10, ci_examples // 10)


class Recorder:
    """Counts every generated case and what it produced, per test, for the summary."""

    def __init__(self):
        self.cases: Counter[str] = Counter()
        self.outcomes: dict[str, Counter[str]] = defaultdict(Counter)
        self.seconds: dict[str, float] = {}

    def case(self, test: str, *outcomes: str) -> None:
        self.cases[test] += 1
        self.outcomes[test].update(outcomes)

    def summary(self) -> dict:
        return {
            "profile": PROFILE,
            "total_cases": sum(self.cases.values()),
            "tests": {
                test: {
                    "cases": count,
                    "seconds": round(self.seconds.get(test, 0.0), 1),
                    "outcomes": dict(sorted(self.outcomes[test].items())),
                }
                for test, count in sorted(self.cases.items())
            },
        }


RECORDER = Recorder()
_STARTED = pytest.StashKey[float]()
# Every fuzz test collected, selected or not: the case minimum applies to full runs only.
_COLLECTED: set[str] = set()


def _is_fuzz(item) -> bool:
    return "tests/fuzz/" in str(item.path).replace(os.sep, "/")


def pytest_itemcollected(item):
    if _is_fuzz(item):
        _COLLECTED.add(item.originalname or item.name)


def pytest_runtest_call(item):
    if _is_fuzz(item):
        item.stash[_STARTED] = time.monotonic()


def pytest_runtest_teardown(item):
    started = item.stash.get(_STARTED, None)
    if started is not None:
        name = item.originalname or item.name
        RECORDER.seconds[name] = RECORDER.seconds.get(name, 0.0) + time.monotonic() - started


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not RECORDER.cases:
        return
    summary = RECORDER.summary()
    write = terminalreporter.write_line
    terminalreporter.section(f"fuzz cases ({summary['profile']} profile)")
    for test, entry in summary["tests"].items():
        write(f"{test}: {entry['cases']} cases in {entry['seconds']} s; {entry['outcomes']}")
    write(f"total: {summary['total_cases']} generated cases")
    artifacts = PROJECT_ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "fuzz-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if _short_of_the_ci_minimum(exitstatus):
        write(
            f"FAILED: the fuzz tests generated {summary['total_cases']} cases, fewer than "
            f"the {MIN_CI_CASES} the ci profile promises",
            red=True,
        )


def _short_of_the_ci_minimum(exitstatus) -> bool:
    full_run = bool(_COLLECTED) and set(RECORDER.cases) >= _COLLECTED
    total = sum(RECORDER.cases.values())
    return PROFILE == "ci" and exitstatus == 0 and full_run and total < MIN_CI_CASES


def pytest_sessionfinish(session, exitstatus):
    if _short_of_the_ci_minimum(exitstatus):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
