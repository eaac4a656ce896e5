"""Search latency and disk use of the embedded SQLite store at 10k and 100k images (issue 14).

    .venv/bin/python -m bench.embedded_search [--sizes 10000,100000] [--samples 100]

Both layouts are measured in the same run on the same corpus (bench.corpus, as bench.search
uses it): the current store (localdev.embedded.sqlite_store, layout 2) and the one it replaced
(bench.sqlite_v1, layout 0). Each is loaded in steps through ``store.write`` in
batches of BATCH images, the handler's own write path (loading is timed without building the
documents). At each size every query is sent through the Chalice app in-process
(chalice.test.Client: routing, parameter parsing, the store, presigned URLs, JSON), the two
layouts taking turns query by query, and each /search also through layout 2 with the total's
10,000 limit lifted (``v2_exact``: counting every match, the bound's baseline). Disk use is
the database file's size divided by the images in it, as the store leaves it after a WAL
checkpoint (the goal's figure), and after a VACUUM (of a copy) for comparison.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from bench import corpus
from bench.report import Deadline, Report, Stopwatch, median, ms, percentile, ratio
from bench.search import DEEP_PAGE, deep_page_path, query_paths
from bench.search_options import add_query_options, run_and_write
from bench.sqlite_v1 import SqliteStoreV1
from chalicelib.search.query import TOTAL_HITS_LIMIT, bounded_total
from chalicelib.store.base import ImageWrite
from localdev.chalice_stage import stage_copy
from localdev.embedded.sqlite_store import SqliteStore

DEFAULT_SIZES = (10_000, 100_000)
BATCH = 500  # images per write: one transaction each
LAYOUTS = {"v1": SqliteStoreV1, "v2": SqliteStore}
GOAL_SIZE = 100_000
P50_GOAL_MS = 100.0
BYTES_GOAL = 3_000  # per image on disk
# A total_hits_limit above any store's images: the count goes to the last match.
UNBOUNDED = 10**15
EXACT = "v2_exact"


def queries(specs) -> dict[str, str]:
    """bench.search's queries and the other sort orders, match=any and /labels?prefix."""
    paths = query_paths(specs)
    popular, second, fifth, tenth = specs[0].name, specs[1].name, specs[4].name, specs[9].name
    prefix = specs[49].name[:3].lower()
    return {
        **{name: path for name, path in paths.items() if name != "/labels"},
        "three labels, match=any": (
            f"/search?label={quote(popular)}&label={quote(second)}&label={quote(fifth)}&match=any"
        ),
        "sort=newest": f"/search?label={quote(tenth)}&sort=newest",
        "sort=confidence": f"/search?label={quote(tenth)}&sort=confidence",
        "no filter": "/search",
        "/labels": "/labels",
        f"/labels?prefix={prefix}": f"/labels?prefix={quote(prefix)}",
    }


def load(store, first: int, last: int) -> dict:
    """Write images first .. last - 1; the seconds count the writes only."""
    seconds = 0.0
    for start in range(first, last, BATCH):
        documents = [corpus.image_document(n) for n in range(start, min(start + BATCH, last))]
        writes = [ImageWrite(document["image_id"], document) for document in documents]
        with Stopwatch() as watch:
            results = store.write(writes)
        seconds += watch.seconds
        failed = [result for result in results if result.status != "written"]
        if failed:
            raise RuntimeError(f"{len(failed)} writes failed: {failed[0].reason}")
    return {"images": last - first, "write_s": seconds, "images_per_s": (last - first) / seconds}


def bytes_per_image(store, path: Path, images: int) -> tuple[float, float]:
    """(as the store leaves the file after a WAL checkpoint, after a VACUUM of a copy)."""
    connection = store._connection()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    copy = path.with_suffix(".vacuumed")
    connection.execute("VACUUM INTO ?", (str(copy),))
    vacuumed = copy.stat().st_size
    copy.unlink()
    return path.stat().st_size / images, vacuumed / images


def measure(api, path: str, samples: int, budget: float) -> dict:
    for _ in range(3):  # warm-up
        response = api.get(path)
    times = []
    deadline = Deadline(budget)
    for _ in range(samples):
        if deadline.passed and len(times) >= 10:
            break
        with Stopwatch() as watch:
            response = api.get(path)
        times.append(watch.seconds)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.body[:300]}")
    body = json.loads(response.body)
    return {
        "n": len(times),
        "p50_ms": ms(median(times)),
        "p99_ms": ms(percentile(times, 0.99)),
        "total": body.get("total") if isinstance(body, dict) else None,
        "answer": _comparable(body),
    }


def _comparable(body):
    """The answer without presigned URLs, which change with the second they are signed in."""
    if isinstance(body, dict) and "items" in body:
        items = [{k: v for k, v in item.items() if k != "url"} for item in body["items"]]
        return {**body, "items": items}
    return body


def _bounded(answer):
    """v1's answer with its exact total as the bounded total reads it (v1 counts every match,
    as the design before the bound did), to compare with v2's."""
    if isinstance(answer, dict) and "total" in answer:
        total, exact = bounded_total(answer["total"], TOTAL_HITS_LIMIT)
        return {**answer, "total": total, "total_is_exact": exact}
    return answer


class CountingEveryMatch:
    """Layout 2 with the limit lifted: what /search cost there before the bounded total."""

    def __init__(self, store: SqliteStore):
        self._store = store

    def search(self, query):
        return self._store.search(replace(query, total_hits_limit=UNBOUNDED))

    def __getattr__(self, name):  # everything else as the store itself answers it
        return getattr(self._store, name)


class Api:
    """The Chalice app in-process on one store (the stage's environment, this store)."""

    def __init__(self, store, project: Path):
        self.store, self.project = store, project

    def __enter__(self):
        from chalice.test import Client

        import app as app_module
        from chalicelib.components import Components

        self.components = Components()
        self.components.store = self.store  # a cached_property: set before first use
        self._client = Client(app_module.app, stage_name="dev", project_dir=str(self.project))
        self.use()
        return self._client.__enter__().http

    def use(self) -> None:
        """Route the app's requests to this store: every client shares the one app module."""
        import app as app_module

        app_module.components = self.components

    def __exit__(self, *exc_info):
        self._client.__exit__(*exc_info)


def run(args) -> Report:
    report = Report("embedded_search")
    report.describe()
    report.parameters = {"sizes": args.sizes, "samples": args.samples, "batch": BATCH}
    specs = corpus.vocabulary()
    paths = queries(specs)
    folder = Path(tempfile.mkdtemp(prefix="bench-embedded-"))
    project = stage_copy(
        folder / "project",
        SEARCH_ENDPOINT="",
        AWS_REGION="us-east-1",
        # Presigning is a local computation: it needs some credentials, never the network.
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="example-secret",
        LOG_LEVEL="WARNING",
    )
    files = {layout: folder / f"{layout}.sqlite3" for layout in LAYOUTS}
    stores = {layout: LAYOUTS[layout](files[layout]) for layout in LAYOUTS}
    load_rows, disk_rows, latency_rows = [], [], []
    results: dict[tuple[int, str, str], dict] = {}
    try:
        loaded = 0
        for size in sorted(args.sizes):
            for layout, store in stores.items():
                timing = load(store, loaded, size)
                load_rows.append({"layout": layout, "to_size": size, **timing})
                per_image, vacuumed = bytes_per_image(store, files[layout], size)
                disk_rows.append(
                    {
                        "layout": layout,
                        "images": size,
                        "bytes_per_image": per_image,
                        "after_vacuum": vacuumed,
                    }
                )
                print(f"{layout} loaded {size:,}: {timing['images_per_s']:,.0f} images/s, "
                      f"{per_image:,.0f} bytes/image", flush=True)  # fmt: skip
            loaded = size
            apis = {layout: Api(store, project) for layout, store in stores.items()}
            apis[EXACT] = Api(CountingEveryMatch(stores["v2"]), project)
            entered = {layout: api.__enter__() for layout, api in apis.items()}
            try:
                for name, path in paths.items():
                    for layout, api in entered.items():
                        if layout == EXACT and not path.startswith("/search"):
                            continue  # the limit changes /search only
                        apis[layout].use()
                        if name.startswith("deep paging"):
                            path = deep_page_path(api, paths[name], DEEP_PAGE)
                        result = measure(api, path, args.samples, args.query_seconds)
                        results[size, name, layout] = result
                        print(f"  {size:>7,} {layout} {name:<26} p50 {result['p50_ms']:.1f} ms "
                              f"p99 {result['p99_ms']:.1f} ms", flush=True)  # fmt: skip
            finally:
                for api in apis.values():
                    api.__exit__(None, None, None)
            for name in paths:
                old, new = results[size, name, "v1"], results[size, name, "v2"]
                exact = results.get((size, name, EXACT), new)
                latency_rows.append(
                    {
                        "images": size,
                        "query": name,
                        "v1_p50_ms": old["p50_ms"],
                        "v2_p50_ms": new["p50_ms"],
                        "v1_p99_ms": old["p99_ms"],
                        "v2_p99_ms": new["p99_ms"],
                        "speedup_p50": ratio(old["p50_ms"], new["p50_ms"]),
                        "v2_exact_p50_ms": exact["p50_ms"],
                        "bound_speedup": ratio(exact["p50_ms"], new["p50_ms"]),
                        "total": new["total"],
                        "v1_total": old["total"],
                        "same_answer": _bounded(old["answer"]) == new["answer"]
                        and _bounded(exact["answer"]) == new["answer"],
                        "n": new["n"],
                    }
                )
    finally:
        for store in stores.values():
            store.close()
        shutil.rmtree(folder, ignore_errors=True)
    report.add_rows("loading (store.write, batches of 500; document building not timed)", load_rows)
    report.add_rows(
        "disk (file size / images, as the store leaves it after a WAL checkpoint; and after a"
        " VACUUM of a copy)",
        disk_rows,
    )
    report.add_rows(
        "latency through the API in-process (v1 = the layout before issue 14, same run)",
        latency_rows,
    )
    _goals(report, latency_rows, disk_rows)
    report.note(
        "same_answer: both layouts gave the same JSON answer (items in order, total, next token;"
        " presigned URLs left out, they carry the second they were signed in); v1 counts every"
        f" match (v1_total), so its total is compared as bounded at {TOTAL_HITS_LIMIT:,}, as is"
        " v2_exact's (layout 2 counting every match); bound_speedup = v2_exact / v2"
    )
    return report


def _goals(report: Report, latency_rows: list[dict], disk_rows: list[dict]) -> None:
    size = max(row["images"] for row in latency_rows)
    if size < GOAL_SIZE:
        report.note(f"the goals are for {GOAL_SIZE:,} images; this run stopped at {size:,}")
        return
    for row in latency_rows:
        if row["images"] != size:
            continue
        report.goal(
            f"{size:,} images, {row['query']}: p50 <= {P50_GOAL_MS:.0f} ms",
            f"<= {P50_GOAL_MS:.0f} ms",
            f"{row['v2_p50_ms']:.1f} ms (v1 {row['v1_p50_ms']:.1f} ms)",
            row["v2_p50_ms"] <= P50_GOAL_MS,
            why="the matches' scores are computed from label_hits/text_postings for every"
            " match (ranking needs them all; the total stops counting at the limit, see"
            " v2_exact); see the query's plan",
        )
    disk = {row["layout"]: row["bytes_per_image"] for row in disk_rows if row["images"] == size}
    report.goal(
        f"{size:,} images: bytes per image on disk <= {BYTES_GOAL:,}",
        f"<= {BYTES_GOAL:,} B",
        f"{disk['v2']:,.0f} B (v1 {disk['v1']:,.0f} B)",
        disk["v2"] <= BYTES_GOAL,
        why="documents, images rows and the label_hits rows dominate (sqlite3_analyzer or"
        " dbstat shows the split)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.embedded_search", description=__doc__)
    add_query_options(
        parser,
        default_sizes=DEFAULT_SIZES,
        sizes_help="store sizes, e.g. 10000 for a quick run",
        samples=100,
        query_seconds=8.0,
        budget_per="query, layout and size",
    )
    return run_and_write(run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
