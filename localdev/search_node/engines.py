"""The engines the harness can run, and what each one needs from Maven Central and the JDK.

An engine is named ``<distribution>-<version>``: ``opensearch-2.19.6``, ``elasticsearch-6.8.23``.
Every one is the distribution's minimal "integ-test-zip" (plain HTTP, no security plugin, few
modules); what the project needs on top of it (the ``analysis-common`` module, for the
asciifolding filter of the keyword normalizer) is rebuilt from jars on Maven Central.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.store.engine import Distribution, Version

DEFAULT_ENGINE = "opensearch-2.19.6"

# What `make test-engines` runs besides the default engine of `make test`: every engine family
# that Amazon's services offer, and buggy patch levels that CI would otherwise never see
# (2.19.1 and 3.3.0 have OpenSearch issue 19636; 3.8.0 ships analysis-common itself).
MATRIX = (
    "elasticsearch-6.8.23",
    "elasticsearch-7.10.2",
    "opensearch-1.3.20",
    "opensearch-2.19.1",
    "opensearch-3.3.0",
    "opensearch-3.8.0",
)


@dataclass(frozen=True)
class JavaRange:
    minimum: int
    maximum: int

    def __contains__(self, major: object) -> bool:
        return isinstance(major, int) and self.minimum <= major <= self.maximum

    def __str__(self) -> str:
        return f"Java {self.minimum}-{self.maximum}"


@dataclass(frozen=True)
class ModuleSource:
    """A module the zip lacks, rebuilt from its jar (and runtime dependencies) on Maven Central."""

    name: str  # the folder under modules/
    artifact: str  # groupId:artifactId
    version: str  # the published version: not always the node's (see Engine.modules)
    classname: str


@dataclass(frozen=True)
class Engine:
    distribution: Distribution
    version: Version

    @classmethod
    def parse(cls, name: str) -> Engine:
        match = re.fullmatch(r"(elasticsearch|opensearch)-(\d+\.\d+\.\d+)", name.strip())
        if not match:
            raise ValueError(
                f"unknown engine {name!r}: expected elasticsearch-X.Y.Z or opensearch-X.Y.Z"
            )
        engine = cls(Distribution(match[1]), Version.parse(match[2]))
        engine.java  # noqa: B018 (raises for a family the harness does not know)
        return engine

    @property
    def name(self) -> str:
        return f"{self.distribution.value}-{self.version}"

    def __str__(self) -> str:
        return self.name

    @property
    def is_opensearch(self) -> bool:
        return self.distribution is Distribution.OPENSEARCH

    @property
    def distribution_artifact(self) -> str:
        group = f"org.{self.distribution.value}.distribution.integ-test-zip"
        return f"{group}:{self.distribution.value}:{self.version}:zip"

    @property
    def launcher(self) -> str:
        return f"bin/{self.distribution.value}"

    @property
    def env_prefix(self) -> str:
        """Prefix of the launcher's variables: OPENSEARCH_JAVA_OPTS, ES_JAVA_OPTS, ..."""
        return "OPENSEARCH" if self.is_opensearch else "ES"

    @property
    def transport_port_setting(self) -> str:
        major = self.version.major
        return "transport.tcp.port" if not self.is_opensearch and major < 7 else "transport.port"

    @property
    def java(self) -> JavaRange:
        """JDKs the version runs on. Until 3.0 every engine enables the SecurityManager, which
        Java 24 removed; OpenSearch 3.x needs 21+. Upper bounds are the newest JDK checked."""
        major = self.version.major
        if self.is_opensearch:
            ranges = {1: JavaRange(11, 17), 2: JavaRange(11, 21), 3: JavaRange(21, 25)}
        else:
            ranges = {6: JavaRange(8, 17), 7: JavaRange(11, 17)}
        if major not in ranges:
            raise ValueError(f"the harness cannot run {self.name}: no known JDK for it")
        return ranges[major]

    @property
    def descriptor_keys(self) -> dict[str, str]:
        """The engine-specific lines of a module's plugin-descriptor.properties."""
        if self.is_opensearch:
            java = "21" if self.version.major >= 3 else "11"
            return {"java.version": java, "opensearch.version": str(self.version)}
        return {"java.version": "1.8", "elasticsearch.version": str(self.version)}

    def modules(self) -> list[ModuleSource]:
        """The modules the project needs that this engine's integ-test-zip does not ship."""
        version = self.version
        if not self.is_opensearch:
            # Elastic does not publish its modules on Maven Central; codelibs republishes the
            # official jars. Its 6.8 line stops at 6.8.12, which loads into any 6.8 node.
            published = "6.8.12" if version.major == 6 else str(version)
            return [
                ModuleSource(
                    "analysis-common",
                    "org.codelibs.elasticsearch.module:analysis-common",
                    published,
                    "org.elasticsearch.analysis.common.CommonAnalysisPlugin",
                )
            ]
        if version >= Version(3, 4):
            return []  # 3.4+ integ-test zips ship analysis-common
        # 1.3.18+ were never published to Maven Central; 1.3.17 loads into later 1.3 nodes.
        published = "1.3.17" if version.major == 1 and version > Version(1, 3, 17) else str(version)
        # 3.0 renamed the plugin class of every module to *ModulePlugin.
        plugin = "CommonAnalysisModulePlugin" if version.major >= 3 else "CommonAnalysisPlugin"
        return [
            ModuleSource(
                "analysis-common",
                "org.opensearch.plugin:analysis-common",
                str(published),
                f"org.opensearch.analysis.common.{plugin}",
            )
        ]
