"""The index a stage deployed before mapping version 2 holds until its migration, for the tests
of the store on it (tests/contract, tests/integration) and of the migration itself."""

from chalicelib.store import engine, mapping


def create_version_1_index(client, alias: str) -> str:
    """``<alias>-v1`` from version 1's template, the alias on it as the write index; returns
    the index's name once its primary shard has started."""
    compat = engine.detect(client)
    template = mapping.index_template(alias, replicas=0, version=1)
    body = compat.index_body({"settings": template["settings"], "mappings": template["mappings"]})
    body["aliases"] = {alias: {"is_write_index": True}}
    index = mapping.versioned_index(alias, 1)
    client.indices.create(index=index, body=body, params=compat.template_params)
    client.cluster.health(index=index, wait_for_status="yellow", timeout="30s")
    return index
