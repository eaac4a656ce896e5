"""Unpacking a node outside the clone, adding the modules it lacks, and the user it runs as.

The unpacked node lives under NODE_ROOT (default /var/tmp/image-label-search-nodes/<engine>/),
outside the clone: a clone's parent folders may be root-only, and as root the node runs as an
unprivileged user (Elasticsearch and OpenSearch refuse to run as root) who must reach it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from localdev.search_node.engines import Engine, ModuleSource
from localdev.search_node.fetch import fetch_distribution, fetch_module_jars

NODE_ROOT = Path(os.environ.get("SEARCH_NODE_ROOT", "/var/tmp/image-label-search-nodes"))
NODE_USER = "search-node"  # only used when we run as root


def extract_zip(zip_path: Path, dest: Path) -> None:
    """Unzip keeping the Unix permission bits (zipfile drops them, e.g. bin/opensearch +x)."""
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, dest))
            mode = info.external_attr >> 16 & 0o777
            if mode:
                path.chmod(mode)


def install_module(home: Path, engine: Engine, module: ModuleSource) -> None:
    """Install a module into <home>/modules/<name> from its Maven Central jars."""
    folder = home / "modules" / module.name
    folder.mkdir(parents=True, exist_ok=True)
    core_jars = {jar.name for jar in (home / "lib").glob("*.jar")}
    for jar in fetch_module_jars(module).glob("*.jar"):
        if jar.name not in core_jars:  # a jar both in lib/ and the module is "jar hell"
            shutil.copy2(jar, folder)
    # The node loads a module only if the descriptor names the node's own version, so a jar
    # published for another patch level (1.3.17 in 1.3.20) is declared as the node's.
    descriptor = {
        "description": f"{module.name} {module.version} (installed by localdev from Maven Central)",
        "version": str(engine.version),
        "name": module.name,
        "classname": module.classname,
        **engine.descriptor_keys,
        "extended.plugins": "",
        "has.native.controller": "false",
    }
    if engine.is_opensearch:
        descriptor["custom.foldername"] = ""
    lines = (f"{key}={value}\n" for key, value in descriptor.items())
    (folder / "plugin-descriptor.properties").write_text("".join(lines))


def missing_modules(home: Path, engine: Engine) -> list[ModuleSource]:
    return [module for module in engine.modules() if not (home / "modules" / module.name).is_dir()]


def fetch_all(engine: Engine) -> None:
    """Download everything the engine needs (the zip and module jars) into the cache."""
    fetch_distribution(engine)
    for module in engine.modules():
        fetch_module_jars(module)


def prepare_node(engine: Engine) -> Path:
    """Return the unpacked node folder (with its modules), downloading/unpacking if needed."""
    home = NODE_ROOT / engine.name
    if not home.is_dir():
        make_traversable_dir(NODE_ROOT)
        zip_path = fetch_distribution(engine)
        with tempfile.TemporaryDirectory(dir=NODE_ROOT, prefix=".unpack-") as tmp:
            extract_zip(zip_path, Path(tmp))
            staged = Path(tmp) / engine.name
            for module in missing_modules(staged, engine):
                install_module(staged, engine, module)
            with contextlib.suppress(OSError):  # a concurrent run may have won the race
                staged.rename(home)
    for module in missing_modules(home, engine):  # unpacked before a module was added
        install_module(home, engine, module)
    node_user = ensure_node_user()
    if node_user:
        chown_tree(home, node_user)
    return home


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
