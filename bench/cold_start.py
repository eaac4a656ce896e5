"""Cold start: import time of app.py in fresh processes, and the deployment package's size.

    .venv/bin/python -m bench.cold_start [--runs 15] [--skip-package] [--library REQUIREMENT]

* Import time: ``import app`` in a fresh interpreter (median of ``--runs``), against importing
  chalice and boto3 alone, in the development virtualenv; then the same two inside the unzipped
  deployment package with no site-packages (``python -S``, as close to Lambda's runtime as this
  machine gets), where only what the package ships can be imported.
* Package: ``chalice package`` run on a copy of the app in a temporary folder (it downloads
  Lambda-platform wheels from PyPI); the zipped size, against the zipped app code alone, and the
  largest top-level entries.
* The logging and metrics library the issue names as the ecosystem's convention
  (``--library``, default aws-lambda-powertools 3.37.0), installed beside the unzipped package
  as ``chalice package`` would bundle it: what it adds to the zip, and ``import app`` plus its
  Logger and Metrics modules against the same chalice + boto3 baseline. chalicelib/logs.py
  says why the functions do not use it.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench.report import PROJECT_ROOT, Report, ratio

APP_FILES = ("app.py", "chalicelib", "requirements.txt", ".chalice")
ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "QUEUE_NAME": "bench-uploads",
}
TIMER = "import time; t = time.perf_counter(); import {modules}; print(time.perf_counter() - t)"
MB = 1024 * 1024
# What Lambda's Python runtime already provides (boto3 and its dependency tree).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six")
LIBRARY = "aws-lambda-powertools==3.37.0"
# What the functions would import from it: its Logger and its EMF Metrics.
LIBRARY_IMPORTS = "aws_lambda_powertools.logging, aws_lambda_powertools.metrics"


def import_seconds(
    modules: str, cwd: Path, extra_args=(), path: Path | None = None, runtime: Path | None = None
) -> float:
    code = TIMER.format(modules=modules)
    if runtime is not None:
        # Lambda's Python runtime puts its own boto3 after the function's code on sys.path.
        code = f"import sys; sys.path.insert(0, {str(runtime)!r}); " + code
    if path is not None:
        code = f"import sys; sys.path.insert(0, {str(path)!r}); " + code
    env = {**os.environ, **ENV, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, *extra_args, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"import {modules} failed:\n{result.stderr[-2000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def median_imports(pairs: dict[str, dict], runs: int) -> dict[str, list[float]]:
    """Interleave the variants run by run, so that drift hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in pairs}
    for _ in range(runs):
        for name, spec in pairs.items():
            times[name].append(import_seconds(**spec))
    return times


def import_profile(cwd: Path, top: int = 12) -> list[dict]:
    """The modules with the largest cumulative import time under ``import app`` (-X importtime)."""
    env = {**os.environ, **ENV}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            _own, cumulative, indent, name = match.groups()
            if len(indent) <= 3:  # top-level imports and their direct children
                rows.append({"module": name, "cumulative_ms": int(cumulative) / 1000})
    rows.sort(key=lambda row: -row["cumulative_ms"])
    return rows[:top]


def copy_app(target: Path) -> None:
    for name in APP_FILES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(
                source,
                target / name,
                ignore=shutil.ignore_patterns("__pycache__", "deployed", "deployments", "venv"),
            )
        else:
            shutil.copy2(source, target / name)


def chalice_package(workdir: Path) -> Path:
    project = workdir / "project"
    project.mkdir()
    copy_app(project)
    out = workdir / "out"
    chalice = Path(sys.executable).parent / "chalice"
    result = subprocess.run(
        [str(chalice), "package", "--stage", "dev", str(out)],
        cwd=project,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        output = result.stdout[-2000:] + result.stderr[-2000:]
        raise RuntimeError(f"chalice package failed:\n{output}")
    return out / "deployment.zip"


def zip_of_app_code(workdir: Path) -> int:
    path = workdir / "app-code.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(PROJECT_ROOT / "app.py", "app.py")
        for file in sorted((PROJECT_ROOT / "chalicelib").rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, file.relative_to(PROJECT_ROOT))
    return path.stat().st_size


def largest_entries(package: Path, top: int = 10) -> list[dict]:
    sizes: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            head = info.filename.split("/", 1)[0]
            sizes[head][0] += info.compress_size
            sizes[head][1] += info.file_size
    rows = [
        {"entry": name, "zipped_mb": zipped / MB, "unzipped_mb": unzipped / MB}
        for name, (zipped, unzipped) in sizes.items()
    ]
    rows.sort(key=lambda row: -row["zipped_mb"])
    return rows[:top]


def runtime_provided_modules(target: Path) -> Path:
    """A folder holding what Lambda's runtime provides (boto3 and its dependencies), linked
    from this virtualenv, to put after the package on sys.path."""
    import importlib.util

    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (target / source.name).symlink_to(source)
    return target


def with_library(unzipped: Path, target: Path, requirement: str) -> Path:
    """A copy of the unzipped package with ``requirement`` installed into it (from PyPI, wheels
    only, no .pyc: as chalice packages a requirement)."""
    shutil.copytree(unzipped, target, symlinks=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"]
    subprocess.run(
        [*pip, "--only-binary=:all:", "--target", str(target), requirement],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return target


def zipped_size(folder: Path, archive_path: Path) -> int:
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, file.relative_to(folder))
    return archive_path.stat().st_size


def size_without(package: Path, provided: tuple[str, ...] = RUNTIME_PROVIDED) -> int:
    """Zipped bytes of the package without the runtime-provided distributions (and their
    dist-info folders): what the package would weigh if requirements.txt left boto3 out."""

    def provided_by_runtime(name: str) -> bool:
        head = name.split("/", 1)[0]
        base = re.split(r"[-.]", head, maxsplit=1)[0].replace("python_", "")
        return base in provided or head in provided or head == "six.py"

    total = 0
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            if not provided_by_runtime(info.filename):
                total += info.compress_size + 30 + len(info.filename)  # local header
    return total


def run(args) -> Report:
    report = Report("cold_start")
    report.parameters = {"runs": args.runs}
    report.describe()
    # The venv has numpy (for the local labeler): elasticsearch 7.13's serializer imports it
    # when it can, which Lambda's package never ships. Both figures are reported.
    variants = {
        "app (venv)": {"modules": "app", "cwd": PROJECT_ROOT},
        "chalice + boto3 (venv)": {"modules": "chalice, boto3", "cwd": PROJECT_ROOT},
    }
    times = median_imports(variants, args.runs)
    rows = [_import_row("venv", times["app (venv)"], times["chalice + boto3 (venv)"])]
    report.add_rows("import profile (-X importtime, venv, largest)", import_profile(PROJECT_ROOT))

    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        workdir = Path(tmp)
        code_size = zip_of_app_code(workdir)
        if not args.skip_package:
            package = chalice_package(workdir)
            size = package.stat().st_size
            report.add_rows(
                "deployment package",
                [
                    {
                        "what": "chalice package deployment.zip",
                        "zipped_mb": size / MB,
                        "baseline_app_code_mb": code_size / MB,
                        "vs_app_code": ratio(size, code_size),
                    },
                    {
                        "what": "same without boto3/botocore & deps (estimate)",
                        "zipped_mb": size_without(package) / MB,
                        "baseline_app_code_mb": code_size / MB,
                        "vs_app_code": ratio(size_without(package), code_size),
                    },
                ],
            )
            report.add_rows("package: largest top-level entries", largest_entries(package))
            report.goal(
                "deployment package <= 5 MB zipped",
                "<= 5 MB",
                f"{size / MB:.1f} MB",
                size <= 5 * MB,
                why="see 'package: largest top-level entries' for what fills it",
            )
            unzipped = workdir / "unzipped"
            with zipfile.ZipFile(package) as archive:
                archive.extractall(unzipped)
            runtime = runtime_provided_modules(workdir / "runtime")
            library = with_library(unzipped, workdir / "with-library", args.library)
            library_size = zipped_size(library, workdir / "with-library.zip")
            isolated = {
                "app (package)": {
                    "modules": "app",
                    "cwd": unzipped,
                    "extra_args": ("-S",),
                    "path": unzipped,
                    "runtime": runtime,
                },
                "chalice + boto3 (package)": {
                    "modules": "chalice, boto3",
                    "cwd": unzipped,
                    "extra_args": ("-S",),
                    "path": unzipped,
                    "runtime": runtime,
                },
                "app + library (package)": {
                    "modules": f"app, {LIBRARY_IMPORTS}",
                    "cwd": library,
                    "extra_args": ("-S",),
                    "path": library,
                    "runtime": runtime,
                },
            }
            library_rows = []
            try:
                # Lambda's code folder is read-only: without .pyc in the zip, every cold start
                # compiles every module. Measured as shipped, then precompiled.
                for where, compile_first in (
                    ("package as shipped (no .pyc), python -S", False),
                    ("package precompiled (.pyc), python -S", True),
                ):
                    if compile_first:
                        for folder in (unzipped, library):
                            subprocess.run(
                                [sys.executable, "-m", "compileall", "-q", str(folder)],
                                check=True,
                                capture_output=True,
                                timeout=300,
                            )
                    times = median_imports(isolated, args.runs)
                    baseline = times["chalice + boto3 (package)"]
                    rows.append(_import_row(where, times["app (package)"], baseline))
                    library_rows.append(
                        _import_row(where, times["app + library (package)"], baseline)
                    )
            except RuntimeError as error:
                report.note(f"import inside the unzipped package failed: {error}")
            report.add_rows(
                f"{args.library} (not shipped): deployment package",
                [
                    {
                        "what": "deployment.zip with the library",
                        "zipped_mb": library_size / MB,
                        "baseline_package_mb": size / MB,
                        "vs_package": ratio(library_size, size),
                    }
                ],
            )
            report.add_rows(
                f"{args.library} (not shipped): import app + Logger + Metrics",
                library_rows,
            )
            for row in library_rows:
                report.note(
                    f"with {args.library} ({row['where']}): {row['vs_baseline']:.2f}x "
                    "chalice + boto3, against the 1.3x bound the library had to keep"
                )
    report.add_rows("import time (median of fresh processes)", rows)
    for row in rows:
        report.goal(
            f"import app <= 1.3x chalice + boto3 ({row['where']})",
            "<= 1.3x",
            f"{row['vs_baseline']:.2f}x ({row['app_ms']:.0f} vs {row['baseline_ms']:.0f} ms)",
            row["vs_baseline"] <= 1.3,
            why=f"app.py's own imports cost {row['app_ms'] - row['baseline_ms']:.0f} ms on top "
            "of chalice + boto3 (python -X importtime app.py names them)",
        )
    # Show the import-time table first.
    report.sections = {
        "import time (median of fresh processes)": report.sections.pop(
            "import time (median of fresh processes)"
        ),
        **report.sections,
    }
    return report


def _import_row(where: str, app_times: list[float], base_times: list[float]) -> dict:
    app_ms, base_ms = statistics.median(app_times) * 1000, statistics.median(base_times) * 1000
    return {
        "where": where,
        "runs": len(app_times),
        "app_ms": app_ms,
        "baseline_ms": base_ms,
        "vs_baseline": ratio(app_ms, base_ms),
        "app_min_ms": min(app_times) * 1000,
        "baseline_min_ms": min(base_times) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per variant")
    parser.add_argument(
        "--skip-package", action="store_true", help="no chalice package (no PyPI access)"
    )
    parser.add_argument(
        "--library",
        default=LIBRARY,
        help="logging/metrics library measured beside the package (a pip requirement)",
    )
    args = parser.parse_args(argv)
    run(args).write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
