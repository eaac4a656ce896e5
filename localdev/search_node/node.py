"""Starting and stopping one throw-away single-node cluster on 127.0.0.1.

Every start gets a fresh run folder, NODE_ROOT/runs/run-*/ (config copy, data, logs), removed
on stop; run folders of runs killed hard (SIGKILL, power loss) are swept at the next start.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from localdev.search_node.engines import DEFAULT_ENGINE, Engine
from localdev.search_node.install import (
    NODE_ROOT,
    chown_tree,
    ensure_node_user,
    make_traversable_dir,
    prepare_node,
)
from localdev.search_node.jdk import pick_jdk

DEFAULT_HEAP = "512m"
START_TIMEOUT = 180.0  # seconds until the cluster must be yellow (2 cores, another node busy)
STOP_GRACE = 20.0  # seconds between SIGTERM and SIGKILL


def default_engine() -> Engine:
    """$ENGINE (e.g. elasticsearch-6.8.23), else the engine `make test` pins."""
    return Engine.parse(os.environ.get("ENGINE") or DEFAULT_ENGINE)


def free_port() -> int:
    """Ask the kernel for a free port on 127.0.0.1 (another process could take it: rare)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def heap_options(heap: str | None) -> str:
    size = heap or os.environ.get("SEARCH_NODE_HEAP") or DEFAULT_HEAP
    return f"-Xms{size} -Xmx{size}"


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def group_alive(process: subprocess.Popen) -> bool:
    """True while any process of the node's group exists (other than unreaped zombies)."""
    process.poll()  # reap our direct child (runuser/bash): a zombie still counts for killpg
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_group(process: subprocess.Popen, grace: float = STOP_GRACE) -> None:
    """SIGTERM the process group led by `process`, then SIGKILL it after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + wait
        while group_alive(process) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not group_alive(process):
            return


@dataclass
class Node:
    engine: Engine
    url: str
    process: subprocess.Popen
    run_dir: Path
    log_path: Path
    stopped: bool = False

    def stop(self) -> None:
        """Kill the node's whole process group and delete its data (idempotent)."""
        atexit.unregister(self.stop)
        if self.stopped:
            return
        self.stopped = True
        kill_group(self.process)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def sweep_stale_runs() -> None:
    """Remove run folders left behind by runs that were killed hard (SIGKILL, power loss)."""
    for run_dir in (NODE_ROOT / "runs").glob("run-*"):
        if not owner_alive(run_dir):
            kill_processes_using(run_dir)
            shutil.rmtree(run_dir, ignore_errors=True)


def owner_alive(run_dir: Path) -> bool:
    """Whether the Python process that started the node in run_dir still runs."""
    try:
        pid = int((run_dir / "owner.pid").read_text())
    except (OSError, ValueError):  # not written yet by a run starting right now, or garbage
        with contextlib.suppress(OSError):
            return time.time() - run_dir.stat().st_mtime < 60
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a killed owner may linger as a zombie for a while


def kill_processes_using(run_dir: Path) -> None:
    """SIGKILL orphaned nodes whose command line names run_dir (their config folder)."""
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if str(run_dir).encode() in (proc / "cmdline").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)


def node_environment(engine: Engine, run_dir: Path, heap: str | None) -> dict[str, str]:
    """The environment a node of this run folder starts with (also used to restart it)."""
    env = dict(os.environ)
    env.pop("JAVA_TOOL_OPTIONS", None)
    prefix = engine.env_prefix
    jdk = str(pick_jdk(engine).home)
    env.update(
        {
            f"{prefix}_JAVA_OPTS": heap_options(heap),
            f"{prefix}_PATH_CONF": str(run_dir / "config"),
            f"{prefix}_TMPDIR": str(run_dir / "tmp"),
            # JAVA_HOME for Elasticsearch before 7.12, <PREFIX>_JAVA_HOME for the others.
            "JAVA_HOME": jdk,
            f"{prefix}_JAVA_HOME": jdk,
            "HOME": str(run_dir),
        }
    )
    return env


def start_node(
    engine: Engine | None = None, heap: str | None = None, timeout: float = START_TIMEOUT
) -> Node:
    """Start a fresh single-node cluster on 127.0.0.1 and wait until it is yellow.

    The caller must call .stop() (an atexit hook is a safety net); prefer running_node().
    """
    engine = engine or default_engine()
    home = prepare_node(engine)
    env_jdk = pick_jdk(engine)  # fail before starting anything when no JDK fits
    sweep_stale_runs()
    make_traversable_dir(NODE_ROOT / "runs")
    run_dir = Path(tempfile.mkdtemp(dir=NODE_ROOT / "runs", prefix="run-"))
    (run_dir / "owner.pid").write_text(str(os.getpid()))
    for sub in ("data", "logs", "tmp"):
        (run_dir / sub).mkdir()
    # A per-run copy of config/: the node may write there (keystore), and it stays pristine.
    shutil.copytree(home / "config", run_dir / "config")

    http_port, transport_port = free_port(), free_port()
    settings = {
        "cluster.name": "image-label-search-local",
        "node.name": "localdev",
        "network.host": "127.0.0.1",  # loopback only keeps the node in development mode
        "http.port": http_port,
        engine.transport_port_setting: transport_port,
        "discovery.type": "single-node",
        "path.data": run_dir / "data",
        "path.logs": run_dir / "logs",
        # Don't turn indices read-only just because the disk of this machine is fairly full.
        "cluster.routing.allocation.disk.threshold_enabled": "false",
    }
    command = [str(home / engine.launcher)]
    command += [arg for key, value in settings.items() for arg in ("-E", f"{key}={value}")]
    node_user = ensure_node_user()
    if node_user:
        chown_tree(run_dir, node_user)
        command = ["runuser", "-u", node_user, "--", *command]

    env = node_environment(engine, run_dir, heap)
    log_path = run_dir / "node.log"  # console output; jvm.options writes gc.log to cwd/logs
    with log_path.open("wb") as log:
        log.write(f"# {engine} on Java {env_jdk.major} ({env_jdk.home})\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            cwd=run_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() kills runuser, bash and java
        )
    node = Node(engine, f"http://127.0.0.1:{http_port}", process, run_dir, log_path)
    atexit.register(node.stop)
    try:
        wait_until_yellow(node, timeout)
    except BaseException:
        node.stop()
        raise
    return node


def wait_until_yellow(node: Node, timeout: float) -> None:
    health = f"{node.url}/_cluster/health?wait_for_status=yellow&timeout=1s"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError(
                f"{node.engine} exited with code {node.process.returncode}:\n"
                f"{log_tail(node.log_path)}"
            )
        # OSError: not listening yet, or HTTP 408 while not yet yellow.
        with (
            contextlib.suppress(OSError, ValueError),
            urllib.request.urlopen(health, timeout=5) as response,
        ):
            if json.load(response)["status"] in ("yellow", "green"):
                return
        time.sleep(0.5)
    raise RuntimeError(
        f"{node.engine} not yellow after {timeout:.0f} s:\n{log_tail(node.log_path)}"
    )


@contextlib.contextmanager
def running_node(engine: Engine | None = None, heap: str | None = None) -> Iterator[Node]:
    """Yield a started Node (use node.url); always stop it and delete its data afterwards."""
    node = start_node(engine=engine, heap=heap)
    try:
        yield node
    finally:
        node.stop()
