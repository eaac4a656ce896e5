"""python -m bench.chaos [--only outage,throttle,poison,fuzz] [--images 1000]"""

from __future__ import annotations

import argparse
import logging
import time
import traceback

from bench import nodes
from bench.chaos import __doc__ as DESCRIPTION
from bench.chaos import scenarios
from bench.report import Report

SCENARIOS = ("outage", "throttle", "poison", "fuzz")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=DESCRIPTION)
    nodes.add_node_arguments(parser)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios to run")
    parser.add_argument("--images", type=int, default=1000, help="images during the outage")
    parser.add_argument("--outage-seconds", type=float, default=15.0, help="node down for")
    parser.add_argument("--throttle-images", type=int, default=200)
    parser.add_argument("--throttle-share", type=float, default=0.3)
    parser.add_argument("--examples", type=int, default=300, help="schemathesis per operation")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    # moto and the local servers log every request; the function's lines are captured.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("localdev.rekognition.server").setLevel(logging.WARNING)

    report = Report("chaos")
    report.parameters = {key: value for key, value in vars(args).items() if key != "opensearch_url"}
    started = time.monotonic()
    with nodes.opensearch(args.opensearch_url, args.heap) as url:
        report.describe(url)
        for name in chosen:
            print(f"-- {name}", flush=True)
            try:
                if name == "outage":
                    # Its own node: this one is killed.
                    scenarios.node_outage(report, args.images, args.outage_seconds, args.heap)
                elif name == "throttle":
                    scenarios.throttling(report, url, args.throttle_images, args.throttle_share)
                elif name == "poison":
                    scenarios.poison_messages(report, url)
                elif name == "fuzz":
                    scenarios.api_fuzzing(report, url, args.examples, args.seed)
            except Exception as error:
                traceback.print_exc()
                report.goal(
                    f"{name}: ran to the end",
                    "no error",
                    repr(error)[:200],
                    False,
                    why="the scenario raised: its traceback is printed above the report",
                )
    report.parameters["wall_s"] = round(time.monotonic() - started, 1)
    report.write()
    return 0 if all(goal.met for goal in report.goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
