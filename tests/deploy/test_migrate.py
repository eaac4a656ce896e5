"""``python -m localdev.aws migrate --stage S``: the stage's alias moves to the current mapping.

Against the moto server (a stack-only stage deployed from a clean clone: the search endpoint is
read from its outputs) and the test session's search node, whose alias is put on a version-1
index before the deploy, as a stage deployed before MAPPING_VERSION 2 has it. The migration
itself, under concurrent writes, is tested in tests/integration/test_migration.py.
"""

from __future__ import annotations

import uuid

import pytest

from bench import corpus
from chalicelib.store import mapping
from chalicelib.store.base import ImageWrite
from chalicelib.store.elasticsearch_store import ElasticsearchStore
from localdev.aws import chalice_config
from localdev.aws.__main__ import main
from tests.deploy.operations_stage import common_args, deploy_stage
from tests.version_1_index import create_version_1_index

pytestmark = pytest.mark.integration


@pytest.fixture
def stage_alias(project, search_client):
    """The stage's own alias on the shared node, behind a version-1 index with 20 images."""
    alias = f"migrate-{uuid.uuid4().hex[:8]}"
    config = chalice_config.load(project)
    config["stages"]["dev"]["environment_variables"]["INDEX_ALIAS"] = alias
    chalice_config.save(project, config)
    create_version_1_index(search_client, alias)
    documents = [corpus.image_document(n) for n in range(20)]
    ElasticsearchStore(search_client, alias, replicas=0).write(
        [ImageWrite(d["image_id"], d) for d in documents]
    )
    yield alias
    search_client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
    search_client.indices.delete_template(name=alias, ignore=[404])


def test_migrate_moves_the_stage_alias_then_deletes_the_old_index(
    aws, project, opensearch_url, search_client, stage_alias, capsys
):
    deploy_stage(project, opensearch_url, aws)
    v1, v2 = mapping.versioned_index(stage_alias, 1), mapping.versioned_index(stage_alias)
    capsys.readouterr()

    assert main(["migrate", *common_args(project)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"==> Migrate {stage_alias} on {opensearch_url}"
    assert lines[-1].startswith(
        f"    {stage_alias} now points at {v2}: copied 20, caught up 0, skipped 0 as stale, in "
    )
    assert lines[-1].endswith(f"s; {v1} kept read-only until migrate --delete-old")
    assert set(search_client.indices.get_alias(name=stage_alias)) == {v2}
    assert search_client.count(index=v2)["count"] == 20

    assert main(["migrate", *common_args(project), "--delete-old"]) == 0

    assert capsys.readouterr().out.splitlines()[-2:] == [
        f"    nothing to do: {stage_alias} already points at {v2}",
        f"    deleted {v1}",
    ]
    assert not search_client.indices.exists(index=v1)


def test_migrate_says_why_it_stops(aws, project, opensearch_url, search_client, capsys):
    alias = f"migrate-{uuid.uuid4().hex[:8]}"
    config = chalice_config.load(project)
    config["stages"]["dev"]["environment_variables"]["INDEX_ALIAS"] = alias
    chalice_config.save(project, config)
    deploy_stage(project, opensearch_url, aws)  # creates the alias on the current version
    search_client.indices.delete(index=f"{alias}-v*")
    capsys.readouterr()

    assert main(["migrate", *common_args(project)]) == 1

    assert capsys.readouterr().err == (
        f"error: migrate stopped: no index behind the alias {alias}: nothing to migrate (the "
        f"first write creates {alias}-v{mapping.MAPPING_VERSION} with the current mapping)\n"
    )
    search_client.indices.delete_template(name=alias, ignore=[404])
