"""Run a real, throw-away OpenSearch node for tests and local runs (stdlib only).

The node is OpenSearch's minimal "integ-test-zip" distribution from Maven Central, the same
one OpenSearch's own build uses for integration-test clusters. Plain HTTP, no security plugin.

    python -m localdev.opensearch_node fetch             # download + unpack only (warm caches)
    python -m localdev.opensearch_node serve             # start, print the URL, Ctrl-C stops it
    python -m localdev.opensearch_node exec -- CMD ...   # run CMD with OPENSEARCH_URL set
    python -m localdev.opensearch_node check             # start and run the analysis smoke test

From Python (e.g. a session-scoped pytest fixture):

    with running_node(heap="512m") as node:
        requests.get(node.url)

Where things live:
  * <project>/.cache/opensearch/   downloaded zips and module jars (git-ignored)
  * /var/tmp/image-label-search-opensearch/<version>/   the unpacked node, reused across runs.
    It sits outside the clone because a clone's parent folders may be root-only, and as root the
    node runs as an unprivileged user (OpenSearch refuses to run as root) that must reach it.
  * /var/tmp/image-label-search-opensearch/runs/<tmp>/  config, data and logs of one start;
    removed on stop, so every start is clean.

Environment: OPENSEARCH_HEAP (e.g. "1g", default "512m"), OPENSEARCH_NODE_VERSION (default
2.19.6; 2.19.x runs on Java 17) and OPENSEARCH_NODE_ROOT (default
/var/tmp/image-label-search-opensearch).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

VERSION = os.environ.get("OPENSEARCH_NODE_VERSION", "2.19.6")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = PROJECT_ROOT / ".cache" / "opensearch"
NODE_ROOT = Path(os.environ.get("OPENSEARCH_NODE_ROOT", "/var/tmp/image-label-search-opensearch"))
NODE_USER = "opensearch-test"  # only used when we run as root
JAVA17_HOME = Path("/usr/lib/jvm/java-17-openjdk-amd64")
DEFAULT_HEAP = "512m"
START_TIMEOUT = 120.0  # seconds until the cluster must be yellow
STOP_GRACE = 20.0  # seconds between SIGTERM and SIGKILL

DISTRIBUTION = "org.opensearch.distribution.integ-test-zip:opensearch:{version}:zip"

# Maven Central publishes modules only as jars (no module zips), so a missing module is rebuilt
# from its jar plus runtime dependencies and a plugin descriptor (and security policy) we write.
NETTY_POLICY = """grant {
  permission java.io.FilePermission "/proc/sys/net/core/somaxconn", "read";
  permission java.net.SocketPermission "*", "accept,connect";
  permission java.lang.RuntimePermission "*", "setContextClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
  permission java.util.PropertyPermission "sun.nio.ch.bugLevel", "write";
};
"""


@dataclass(frozen=True)
class Module:
    artifact: str  # groupId:artifactId; the version is the node's version
    classname: str
    policy: str = ""  # plugin-security.policy, if the module needs one


# Modules the project needs: analysis-common for the asciifolding filter in keyword normalizers,
# transport-netty4 for HTTP/transport. The 2.19.6 integ-test-zip ships only transport-netty4.
MODULES = {
    "analysis-common": Module(
        "org.opensearch.plugin:analysis-common",
        "org.opensearch.analysis.common.CommonAnalysisPlugin",
    ),
    "transport-netty4": Module(
        "org.opensearch.plugin:transport-netty4-client",
        "org.opensearch.transport.Netty4Plugin",
        NETTY_POLICY,
    ),
}


# --------------------------------------------------------------------------- downloading


def run_maven(*args: str, cwd: Path | None = None) -> None:
    """Run Maven quietly in batch mode; raise with its output if it fails."""
    result = subprocess.run(
        ["mvn", "-B", "-q", "-ntp", *args], cwd=cwd, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"mvn {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def fetch_distribution(version: str = VERSION) -> Path:
    """Return the cached integ-test-zip, downloading it from Maven Central if needed."""
    zip_path = CACHE_DIR / f"opensearch-{version}.zip"
    if zip_path.is_file():
        return zip_path
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:  # no half-written zip in the cache
        artifact = DISTRIBUTION.format(version=version)
        run_maven("dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={tmp}")
        os.replace(Path(tmp) / zip_path.name, zip_path)
    return zip_path


def fetch_module_jars(name: str, version: str = VERSION) -> Path:
    """Return a cached folder with a module's jar and its runtime dependencies."""
    target = CACHE_DIR / "modules" / f"{name}-{version}"
    if target.is_dir():
        return target
    group, artifact = MODULES[name].artifact.split(":")
    # dependency:copy-dependencies needs a project, so write a throw-away one.
    pom = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>localdev</groupId><artifactId>fetch-{name}</artifactId><version>0</version>
  <dependencies><dependency>
    <groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version>
  </dependency></dependencies>
</project>
"""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        (Path(tmp) / "pom.xml").write_text(pom)
        run_maven(
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}/jars",
            cwd=Path(tmp),
        )
        os.replace(Path(tmp) / "jars", target)
    return target


# --------------------------------------------------------------------------- unpacking


def extract_zip(zip_path: Path, dest: Path) -> None:
    """Unzip keeping the Unix permission bits (zipfile drops them, e.g. bin/opensearch +x)."""
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, dest))
            mode = info.external_attr >> 16 & 0o777
            if mode:
                path.chmod(mode)


def install_module(home: Path, name: str, version: str) -> None:
    """Install a module into <home>/modules/<name> from its Maven Central jars."""
    module = MODULES[name]
    folder = home / "modules" / name
    folder.mkdir(parents=True, exist_ok=True)
    core_jars = {jar.name for jar in (home / "lib").glob("*.jar")}
    for jar in fetch_module_jars(name, version).glob("*.jar"):
        if jar.name not in core_jars:  # a jar both in lib/ and the module is "jar hell"
            shutil.copy2(jar, folder)
    descriptor = {
        "description": f"{name} (installed by localdev from Maven Central)",
        "version": version,
        "name": name,
        "classname": module.classname,
        "java.version": "11",
        "opensearch.version": version,
        "custom.foldername": "",
        "extended.plugins": "",
        "has.native.controller": "false",
    }
    lines = (f"{key}={value}\n" for key, value in descriptor.items())
    (folder / "plugin-descriptor.properties").write_text("".join(lines))
    if module.policy:
        (folder / "plugin-security.policy").write_text(module.policy)


def missing_modules(home: Path) -> list[str]:
    return [name for name in MODULES if not (home / "modules" / name).is_dir()]


def prepare_node(version: str = VERSION) -> Path:
    """Return the unpacked node folder (with all MODULES), downloading/unpacking if needed."""
    home = NODE_ROOT / version
    if not home.is_dir():
        make_traversable_dir(NODE_ROOT)
        zip_path = fetch_distribution(version)
        with tempfile.TemporaryDirectory(dir=NODE_ROOT, prefix=".unpack-") as tmp:
            extract_zip(zip_path, Path(tmp))
            staged = Path(tmp) / f"opensearch-{version}"
            for name in missing_modules(staged):
                install_module(staged, name, version)
            with contextlib.suppress(OSError):  # a concurrent run may have won the race
                staged.rename(home)
    for name in missing_modules(home):  # an older unpack, before a module was added to MODULES
        install_module(home, name, version)
    node_user = ensure_node_user()
    if node_user:
        chown_tree(home, node_user)
    return home


# --------------------------------------------------------------------------- running as root


def ensure_node_user() -> str | None:
    """As root, return an unprivileged system user for the node (creating it); else None."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(NODE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", NODE_USER]
        )
        pwd.getpwnam(NODE_USER)  # raises if useradd failed (a concurrent useradd is fine)
    return NODE_USER


def make_traversable_dir(path: Path) -> None:
    """Create a folder that the node user can traverse whatever the umask."""
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):  # someone else's folder: leave it as it is
        path.chmod(0o755)


def chown_tree(path: Path, user: str) -> None:
    subprocess.run(["chown", "-R", f"{user}:", str(path)], check=True)


# --------------------------------------------------------------------------- start / stop


def free_port() -> int:
    """Ask the kernel for a free port on 127.0.0.1 (another process could take it: rare)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def java_home() -> str | None:
    return str(JAVA17_HOME) if JAVA17_HOME.is_dir() else os.environ.get("JAVA_HOME")


def heap_options(heap: str | None) -> str:
    size = heap or os.environ.get("OPENSEARCH_HEAP") or DEFAULT_HEAP
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


def node_environment(run_dir: Path, heap: str | None) -> dict[str, str]:
    """The environment a node of this run folder starts with (also used to restart it)."""
    env = dict(os.environ)
    env.pop("JAVA_TOOL_OPTIONS", None)
    env.update(
        OPENSEARCH_JAVA_OPTS=heap_options(heap),
        OPENSEARCH_PATH_CONF=str(run_dir / "config"),
        OPENSEARCH_TMPDIR=str(run_dir / "tmp"),
        HOME=str(run_dir),
    )
    jdk = java_home()
    if jdk:
        env["JAVA_HOME"] = env["OPENSEARCH_JAVA_HOME"] = jdk
    return env


def start_node(
    heap: str | None = None, version: str = VERSION, timeout: float = START_TIMEOUT
) -> Node:
    """Start a fresh single-node cluster on 127.0.0.1 and wait until it is yellow.

    The caller must call .stop() (an atexit hook is a safety net); prefer running_node().
    """
    home = prepare_node(version)
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
        "transport.port": transport_port,
        "discovery.type": "single-node",
        "path.data": run_dir / "data",
        "path.logs": run_dir / "logs",
        # Don't turn indices read-only just because the disk of this machine is fairly full.
        "cluster.routing.allocation.disk.threshold_enabled": "false",
    }
    command = [str(home / "bin" / "opensearch")]
    command += [arg for key, value in settings.items() for arg in ("-E", f"{key}={value}")]
    node_user = ensure_node_user()
    if node_user:
        chown_tree(run_dir, node_user)
        command = ["runuser", "-u", node_user, "--", *command]

    env = node_environment(run_dir, heap)

    log_path = run_dir / "node.log"  # console output; jvm.options writes gc.log to cwd/logs
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=run_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() kills runuser, bash and java
        )
    node = Node(f"http://127.0.0.1:{http_port}", process, run_dir, log_path)
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
                f"OpenSearch exited with code {node.process.returncode}:\n{log_tail(node.log_path)}"
            )
        # OSError: not listening yet, or HTTP 408 while not yet yellow.
        with (
            contextlib.suppress(OSError, ValueError),
            urllib.request.urlopen(health, timeout=5) as response,
        ):
            if json.load(response)["status"] in ("yellow", "green"):
                return
        time.sleep(0.5)
    raise RuntimeError(f"OpenSearch not yellow after {timeout:.0f} s:\n{log_tail(node.log_path)}")


@contextlib.contextmanager
def running_node(heap: str | None = None, version: str = VERSION) -> Iterator[Node]:
    """Yield a started Node (use node.url); always stop it and delete its data afterwards."""
    node = start_node(heap=heap, version=version)
    try:
        yield node
    finally:
        node.stop()


# --------------------------------------------------------------------------- smoke test


def request_json(method: str, url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def smoke_test(url: str) -> None:
    """Check the features the app relies on: an asciifolding keyword normalizer and nested."""
    index = f"{url}/localdev-smoke-{uuid.uuid4().hex[:8]}"
    request_json(
        "PUT",
        index,
        {
            "settings": {
                "analysis": {
                    "normalizer": {
                        "folded": {"type": "custom", "filter": ["lowercase", "asciifolding"]}
                    }
                }
            },
            "mappings": {
                "properties": {
                    "name": {"type": "keyword", "normalizer": "folded"},
                    "labels": {"type": "nested", "properties": {"name": {"type": "keyword"}}},
                }
            },
        },
    )
    try:
        doc = {"name": "Café", "labels": [{"name": "Cat"}]}
        request_json("PUT", f"{index}/_doc/1?refresh=true", doc)
        queries = {
            "folded term": {"term": {"name": "cafe"}},
            "nested term": {
                "nested": {"path": "labels", "query": {"term": {"labels.name": "Cat"}}}
            },
        }
        for what, query in queries.items():
            hits = request_json("POST", f"{index}/_search", {"query": query})["hits"]["hits"]
            if len(hits) != 1:
                raise RuntimeError(f"smoke test: {what} query found {len(hits)} docs, not 1")
    finally:
        request_json("DELETE", index)


# --------------------------------------------------------------------------- CLI


def exit_on_signal(signum: int, _frame: object) -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks (and atexit) stop the node."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.opensearch_node",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--heap", help=f"JVM heap, e.g. 1g (default $OPENSEARCH_HEAP or {DEFAULT_HEAP})"
    )
    parser.add_argument(
        "--version", default=VERSION, help=f"OpenSearch version (default {VERSION})"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="download and unpack the node only (warms the caches)")
    commands.add_parser("serve", help="start a node, print its URL, stop it on Ctrl-C")
    commands.add_parser("check", help="start a node and run the analysis/nested smoke test")
    run = commands.add_parser("exec", help="run CMD with OPENSEARCH_URL set, then stop the node")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, exit_on_signal)
    # Shells start background jobs with SIGINT ignored; make `kill -INT` stop us anyway.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.command == "fetch":
        print(prepare_node(args.version))
        return 0
    cmd = getattr(args, "cmd", [])
    cmd = cmd[1:] if cmd[:1] == ["--"] else cmd
    if args.command == "exec" and not cmd:
        parser.error("exec needs a command: exec -- CMD ARGS...")

    try:
        with running_node(heap=args.heap, version=args.version) as node:
            if args.command == "check":
                smoke_test(node.url)
                print(f"OK: {node.url} folds 'Café' to 'cafe' and answers nested queries")
                return 0
            if args.command == "exec":
                return subprocess.run(
                    cmd, env={**os.environ, "OPENSEARCH_URL": node.url}
                ).returncode
            print(node.url, flush=True)
            print("OpenSearch is running; press Ctrl-C to stop it.", file=sys.stderr, flush=True)
            node.process.wait()  # returns only if the node dies on its own
            print(f"OpenSearch exited:\n{log_tail(node.log_path)}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 130
    except RuntimeError as error:  # download or start failed: the message has the log tail
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
