"""The options and the run that both search benchmarks share (bench.search, bench.embedded_search):
the sizes to measure at, the samples and the time budget per query, and the report's wall time."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from bench.report import Report


def sizes(text: str) -> list[int]:
    """``10000,100000`` -> [10000, 100000]."""
    return [int(part) for part in text.split(",")]


def add_query_options(
    parser: argparse.ArgumentParser,
    *,
    default_sizes: Sequence[int],
    sizes_help: str,
    samples: int,
    query_seconds: float,
    budget_per: str,
) -> None:
    """``--sizes``, ``--samples`` and ``--query-seconds`` (``budget_per``: what the budget of
    one query is for, e.g. "query, design and size")."""
    parser.add_argument("--sizes", type=sizes, default=list(default_sizes), help=sizes_help)
    parser.add_argument("--samples", type=int, default=samples, help="requests per query and size")
    parser.add_argument(
        "--query-seconds",
        type=float,
        default=query_seconds,
        help=f"time budget per {budget_per}",
    )


def run_and_write(run: Callable[[argparse.Namespace], Report], args: argparse.Namespace) -> int:
    """Runs the benchmark and writes its report, with the run's wall time among its parameters."""
    started = time.monotonic()
    report = run(args)
    report.parameters["wall_s"] = round(time.monotonic() - started, 1)
    report.write()
    return 0
