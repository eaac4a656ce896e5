"""What every benchmark shares: the machine's description, statistics, a table, a JSON file.

A report holds rows (dicts) printed as an aligned table, goals (a target, the figure measured
and whether it is met), free-text notes, and the machine it ran on. ``write()`` prints all of
it and saves ``artifacts/bench/<name>.json``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT_ROOT / "artifacts" / "bench"

PACKAGES = ("chalice", "boto3", "botocore", "elasticsearch", "moto", "onnxruntime", "numpy")


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted values fall (linear interpolation)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratio(value: float, baseline: float) -> float:
    """value / baseline, NaN when the baseline is zero or missing."""
    if not baseline or math.isnan(baseline) or math.isnan(value):
        return math.nan
    return value / baseline


def ms(seconds: float) -> float:
    return seconds * 1000.0


class Stopwatch:
    """``with Stopwatch() as watch: ...`` then ``watch.seconds``."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = math.nan
        return self

    def __exit__(self, *exc_info) -> None:
        self.seconds = time.perf_counter() - self.started


class Deadline:
    """A time budget for a bounded loop: ``while not deadline.passed: ...``."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.end

    @property
    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())


# --------------------------------------------------------------------------- the machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return math.nan


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def opensearch_version(url: str) -> str | None:
    """The node's version (GET /), or None when it does not answer."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            info = json.load(response)
    except (OSError, ValueError):
        return None
    version = info.get("version", {})
    return f"{version.get('distribution', 'elasticsearch')} {version.get('number')}"


def describe_machine(opensearch_url: str | None = None) -> dict[str, Any]:
    machine = {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gib": _memory_gib(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "packages": {name: _version(name) for name in PACKAGES if _version(name)},
    }
    if opensearch_url:
        machine["opensearch"] = opensearch_version(opensearch_url)
    return machine


# --------------------------------------------------------------------------- output


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "inf"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.1f}"
        if magnitude >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """An aligned plain-text table; numbers right-aligned, text left-aligned."""
    if not rows:
        return "(no rows)"
    columns = list(columns or _columns(rows))
    cells = [[format_value(row.get(column)) for column in columns] for row in rows]
    widths = [
        max(len(column), *(len(line[index]) for line in cells))
        for index, column in enumerate(columns)
    ]
    numeric = [
        all(isinstance(row.get(column), int | float) or row.get(column) is None for row in rows)
        for column in columns
    ]

    def line(values: Iterable[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    header = line(columns)
    return "\n".join([header, "-" * len(header), *(line(row) for row in cells)])


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass
class Goal:
    name: str
    target: str
    measured: str
    met: bool
    # What a miss means, in one line: printed under the table for every goal not met.
    why: str = ""


@dataclass
class Report:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    # Written to the JSON file only (query bodies, raw samples): too wide for the table.
    data: dict[str, Any] = field(default_factory=dict)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def add_rows(
        self, section: str, rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None
    ) -> None:
        self.sections.setdefault(section, []).extend(rows)
        if columns:
            self.columns[section] = list(columns)

    def goal(self, name: str, target: str, measured: str, met: bool, *, why: str) -> None:
        """``why`` explains a miss (what limits the figure, where to look): a bare NO tells a
        reader nothing."""
        self.goals.append(Goal(name, target, measured, bool(met), why))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def describe(self, opensearch_url: str | None = None) -> None:
        self.machine = describe_machine(opensearch_url)

    def render(self) -> str:
        out = [f"== bench.{self.name} ({self.started})"]
        machine = self.machine or describe_machine()
        out.append(
            "machine: {cores} cores, {cpu_model}, {ram_gib} GiB RAM, Python {python}, {os}".format(
                **machine
            )
            + (f", {machine['opensearch']}" if machine.get("opensearch") else "")
        )
        if self.parameters:
            out.append("parameters: " + ", ".join(f"{k}={v}" for k, v in self.parameters.items()))
        for section, rows in self.sections.items():
            out += ["", f"-- {section}", table(rows, self.columns.get(section))]
        if self.goals:
            rows = [
                {"goal": g.name, "target": g.target, "measured": g.measured, "met": g.met}
                for g in self.goals
            ]
            out += ["", "-- goals", table(rows)]
            out += [f"NO  {g.name}: {g.why}" for g in self.goals if not g.met]
        if self.notes:
            out += ["", "-- notes", *(f"* {note}" for note in self.notes)]
        return "\n".join(out)

    def as_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "benchmark": self.name,
                "started": self.started,
                "machine": self.machine or describe_machine(),
                "parameters": self.parameters,
                "sections": self.sections,
                "goals": [goal.__dict__ for goal in self.goals],
                "notes": self.notes,
                "data": self.data,
            }
        )

    def write(self, directory: Path = ARTIFACTS) -> Path:
        """Print the report and save it as JSON; returns the JSON file's path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n")
        print(self.render())
        print(f"\nwritten: {path}")
        sys.stdout.flush()
        return path
