"""python -m localdev.search_node [--engine NAME] fetch|serve|check|exec -- CMD ...

fetch            download + unpack only (warms the caches)
serve            start, print the URL, Ctrl-C stops it (`make search-node ENGINE=...`)
exec -- CMD ...  run CMD with OPENSEARCH_URL (and ENGINE) set, then stop the node
check            start and run the analysis/nested smoke test
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from localdev.search_node.engines import DEFAULT_ENGINE, MATRIX, Engine
from localdev.search_node.install import prepare_node
from localdev.search_node.node import DEFAULT_HEAP, log_tail, running_node
from localdev.search_node.smoke import smoke_test


def exit_on_signal(signum: int, _frame: object) -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks (and atexit) stop the node."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.search_node",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--engine",
        default=os.environ.get("ENGINE") or DEFAULT_ENGINE,
        help=f"e.g. {', '.join(MATRIX)} (default $ENGINE or {DEFAULT_ENGINE})",
    )
    parser.add_argument(
        "--heap", help=f"JVM heap, e.g. 1g (default $SEARCH_NODE_HEAP or {DEFAULT_HEAP})"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="download and unpack the node only (warms the caches)")
    commands.add_parser("serve", help="start a node, print its URL, stop it on Ctrl-C")
    commands.add_parser("check", help="start a node and run the analysis/nested smoke test")
    run = commands.add_parser("exec", help="run CMD with OPENSEARCH_URL set, then stop the node")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    args = parser.parse_args(argv)
    try:
        engine = Engine.parse(args.engine)
    except ValueError as error:
        parser.error(str(error))

    signal.signal(signal.SIGTERM, exit_on_signal)
    # Shells start background jobs with SIGINT ignored; make `kill -INT` stop us anyway.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cmd = getattr(args, "cmd", [])
    cmd = cmd[1:] if cmd[:1] == ["--"] else cmd
    if args.command == "exec" and not cmd:
        parser.error("exec needs a command: exec -- CMD ARGS...")

    try:
        if args.command == "fetch":
            print(prepare_node(engine))
            return 0
        with running_node(engine, heap=args.heap) as node:
            if args.command == "check":
                compat = smoke_test(node.url)
                print(f"OK: {compat.engine} at {node.url} folds 'Café' and answers nested queries")
                return 0
            if args.command == "exec":
                env = {**os.environ, "OPENSEARCH_URL": node.url, "ENGINE": engine.name}
                return subprocess.run(cmd, env=env).returncode
            print(node.url, flush=True)
            print(f"{engine} is running; press Ctrl-C to stop it.", file=sys.stderr, flush=True)
            node.process.wait()  # returns only if the node dies on its own
            print(f"{engine} exited:\n{log_tail(node.log_path)}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 130
    except RuntimeError as error:  # download, JDK or start failed: the message says which
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
