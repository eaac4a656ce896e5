"""The harness's choices per engine (coordinates, modules, JDK) and the matrix's bookkeeping.

Starting real nodes is what `make test-engines` does; these check the decisions behind it.
"""

from pathlib import Path

import pytest

from chalicelib.store.engine import Distribution, Version
from localdev import engine_matrix
from localdev.search_node import jdk
from localdev.search_node.engines import DEFAULT_ENGINE, MATRIX, Engine


def test_engine_names_parse_and_print_back():
    for name in (*MATRIX, DEFAULT_ENGINE):
        assert Engine.parse(name).name == name
    assert Engine.parse("elasticsearch-6.8.23") == Engine(
        Distribution.ELASTICSEARCH, Version(6, 8, 23)
    )


@pytest.mark.parametrize(
    "name", ["opensearch", "solr-9.0.0", "opensearch-2.19", "elasticsearch-8.11.1"]
)
def test_unknown_engine_names_are_refused(name):
    with pytest.raises(ValueError):
        Engine.parse(name)


def test_coordinates_launcher_and_settings_follow_the_distribution():
    six, os3 = Engine.parse("elasticsearch-6.8.23"), Engine.parse("opensearch-3.3.0")
    assert six.distribution_artifact == (
        "org.elasticsearch.distribution.integ-test-zip:elasticsearch:6.8.23:zip"
    )
    assert os3.distribution_artifact == (
        "org.opensearch.distribution.integ-test-zip:opensearch:3.3.0:zip"
    )
    assert (six.launcher, six.env_prefix) == ("bin/elasticsearch", "ES")
    assert (os3.launcher, os3.env_prefix) == ("bin/opensearch", "OPENSEARCH")
    assert six.transport_port_setting == "transport.tcp.port"
    assert Engine.parse("elasticsearch-7.10.2").transport_port_setting == "transport.port"


@pytest.mark.parametrize(
    ("name", "artifact", "classname"),
    [
        (
            "elasticsearch-6.8.23",
            "org.codelibs.elasticsearch.module:analysis-common:6.8.12",
            "org.elasticsearch.analysis.common.CommonAnalysisPlugin",
        ),
        (
            "elasticsearch-7.10.2",
            "org.codelibs.elasticsearch.module:analysis-common:7.10.2",
            "org.elasticsearch.analysis.common.CommonAnalysisPlugin",
        ),
        (
            "opensearch-1.3.20",
            "org.opensearch.plugin:analysis-common:1.3.17",
            "org.opensearch.analysis.common.CommonAnalysisPlugin",
        ),
        (
            "opensearch-2.19.1",
            "org.opensearch.plugin:analysis-common:2.19.1",
            "org.opensearch.analysis.common.CommonAnalysisPlugin",
        ),
        (
            "opensearch-3.3.0",
            "org.opensearch.plugin:analysis-common:3.3.0",
            "org.opensearch.analysis.common.CommonAnalysisModulePlugin",
        ),
    ],
)
def test_analysis_common_comes_from_where_maven_central_has_it(name, artifact, classname):
    [module] = Engine.parse(name).modules()
    assert (f"{module.artifact}:{module.version}", module.classname) == (artifact, classname)


def test_opensearch_3_4_and_later_ship_analysis_common():
    assert Engine.parse("opensearch-3.8.0").modules() == []


def fake_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("")
    (home / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\n')
    return home


@pytest.fixture
def jdks(tmp_path, monkeypatch):
    """/usr/lib/jvm as on these machines: Debian's 17 (under two names) and Temurin 25."""
    monkeypatch.setattr(jdk, "JVM_ROOTS", (tmp_path,))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    homes = {
        17: fake_jdk(tmp_path, "java-17-openjdk-amd64", "17.0.15"),
        25: fake_jdk(tmp_path, "temurin-25-jdk-amd64", "25.0.3"),
    }
    (tmp_path / "java-1.17.0-openjdk-amd64").symlink_to(homes[17])
    return homes


def test_each_engine_gets_a_jdk_it_runs_on(jdks):
    assert [found.major for found in jdk.installed_jdks()] == [25, 17]
    for name in ("elasticsearch-6.8.23", "elasticsearch-7.10.2", "opensearch-2.19.1"):
        assert jdk.pick_jdk(Engine.parse(name)).home == jdks[17]
    assert jdk.pick_jdk(Engine.parse("opensearch-3.3.0")).home == jdks[25]


def test_java_home_wins_when_it_fits(jdks, tmp_path, monkeypatch):
    java21 = fake_jdk(tmp_path / "elsewhere", "jdk-21", "21.0.4")
    monkeypatch.setenv("JAVA_HOME", str(java21))
    assert jdk.pick_jdk(Engine.parse("opensearch-3.8.0")).home == java21
    assert jdk.pick_jdk(Engine.parse("opensearch-2.19.6")).home == java21
    # Elasticsearch 7.10 enables the SecurityManager: not checked beyond Java 17.
    assert jdk.pick_jdk(Engine.parse("elasticsearch-7.10.2")).home == jdks[17]


def test_no_fitting_jdk_is_an_error_naming_what_is_needed(jdks, monkeypatch):
    monkeypatch.setattr(jdk, "installed_jdks", lambda: [jdk.Jdk(jdks[17], 17)])
    with pytest.raises(RuntimeError, match="needs Java 21-25") as raised:
        jdk.pick_jdk(Engine.parse("opensearch-3.8.0"))
    assert "JAVA_HOME" in str(raised.value)


def test_suite_counts_read_pytest_junit_xml(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="pytest" errors="1" failures="2" '
        'skipped="0" tests="92"></testsuite></testsuites>'
    )
    assert engine_matrix.suite_counts(report) == (89, 3, 0)


def test_the_table_has_a_row_per_engine_and_fails_an_engine_that_never_ran():
    ran = engine_matrix.EngineRun("opensearch-3.8.0", passed=92)
    ran.seconds.update(fetch=3.2, start=20.4, tests=50.1)
    never = engine_matrix.EngineRun("elasticsearch-6.8.23", problem="could not start: no JDK")
    text = engine_matrix.table([ran, never])
    assert "| opensearch-3.8.0 | pass | 92 | 0 | 0 | 3 | 20 | 50 | 74 |" in text
    assert "| elasticsearch-6.8.23 | FAIL | 0 | 0 | 0 |" in text
    assert ran.ok and not never.ok
