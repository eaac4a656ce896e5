"""Downloads from Maven Central into the project's git-ignored cache (stdlib and mvn only).

Maven keeps its own copy in ~/.m2 as well, so a fresh clone on a machine that fetched before
copies from there instead of downloading again.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from localdev.search_node.engines import Engine, ModuleSource

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("SEARCH_NODE_CACHE", PROJECT_ROOT / ".cache" / "search-node"))


def run_maven(*args: str, cwd: Path | None = None) -> None:
    """Run Maven quietly in batch mode; raise with its output if it fails."""
    try:
        result = subprocess.run(
            ["mvn", "-B", "-q", "-ntp", *args], cwd=cwd, capture_output=True, text=True
        )
    except FileNotFoundError:
        raise RuntimeError(
            "Maven (mvn) is not installed: the search node's distribution comes from Maven "
            "Central. Install Java 17 and Maven (apt-get install openjdk-17-jdk-headless maven)"
        ) from None
    if result.returncode != 0:
        raise RuntimeError(f"mvn {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def fetch_distribution(engine: Engine) -> Path:
    """Return the cached integ-test-zip, downloading it from Maven Central if needed."""
    zip_path = CACHE_DIR / f"{engine.name}.zip"
    if zip_path.is_file():
        return zip_path
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:  # no half-written zip in the cache
        artifact = engine.distribution_artifact
        run_maven("dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={tmp}")
        os.replace(Path(tmp) / zip_path.name, zip_path)
    return zip_path


def fetch_module_jars(module: ModuleSource) -> Path:
    """Return a cached folder with a module's jar and its runtime dependencies."""
    target = CACHE_DIR / "modules" / f"{module.artifact.replace(':', '-')}-{module.version}"
    if target.is_dir():
        return target
    group, artifact = module.artifact.split(":")
    # dependency:copy-dependencies needs a project, so write a throw-away one.
    pom = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>localdev</groupId><artifactId>fetch-{artifact}</artifactId><version>0</version>
  <dependencies><dependency>
    <groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{module.version}</version>
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
