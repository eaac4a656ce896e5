"""Finding a JDK that an engine version runs on.

``JAVA_HOME`` wins when it fits the engine; otherwise the newest fitting JDK installed under
/usr/lib/jvm (Debian's OpenJDK 17 and the Temurin 25 of these machines, for example). The
default JDK is not always right: OpenSearch 3.x needs 21+, and before 3.0 every engine enables
the SecurityManager that Java 24 removed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from localdev.search_node.engines import Engine

JVM_ROOTS = (Path("/usr/lib/jvm"),)


@dataclass(frozen=True)
class Jdk:
    home: Path
    major: int


def jdk_at(home: Path) -> Jdk | None:
    """The JDK installed at ``home``, read from its ``release`` file; None if there is none."""
    try:
        release = (home / "release").read_text(errors="replace")
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="(?:1\.)?(\d+)', release, re.MULTILINE)
    if not match or not (home / "bin" / "java").is_file():
        return None
    return Jdk(home, int(match[1]))


def installed_jdks() -> list[Jdk]:
    """Every JDK under JVM_ROOTS once (Debian links several names to one JDK), newest first."""
    found: dict[Path, Jdk] = {}
    for root in JVM_ROOTS:
        for home in sorted(root.glob("*")) if root.is_dir() else ():
            jdk = jdk_at(home.resolve())
            if jdk:
                found.setdefault(jdk.home, jdk)
    return sorted(found.values(), key=lambda jdk: -jdk.major)


def pick_jdk(engine: Engine) -> Jdk:
    """JAVA_HOME if it fits the engine, else the newest installed JDK that does."""
    wanted = engine.java
    configured = os.environ.get("JAVA_HOME")
    if configured:
        jdk = jdk_at(Path(configured))
        if jdk and jdk.major in wanted:
            return jdk
    for jdk in installed_jdks():
        if jdk.major in wanted:
            return jdk
    seen = ", ".join(f"{jdk.major} ({jdk.home})" for jdk in installed_jdks()) or "none"
    raise RuntimeError(
        f"{engine} needs {wanted}; JAVA_HOME={configured or '(unset)'}, installed JDKs: {seen}. "
        "Install one (for example Temurin 21+ for OpenSearch 3.x) or point JAVA_HOME at it."
    )
