"""`SEARCH_ENDPOINT=<a local node> make run`: the local stack's index is green on one node,
because the stack defaults INDEX_REPLICAS to 0 (a replica is never assigned on a single node)."""

from localdev import cli
from localdev.run import SAMPLES
from localdev.stack import LocalStack, StackOptions


def test_the_local_index_is_green_on_a_single_node(
    opensearch_url, search_client, index_alias, tmp_path
):
    options = StackOptions(
        api_port=0,
        data_dir=tmp_path / "data",
        search_endpoint=opensearch_url,
        function_settings={"INDEX_ALIAS": index_alias},
    )
    with LocalStack(options) as stack:
        assert ("INDEX_REPLICAS", "0", "local default") in stack.setting_differences()
        files = [str(SAMPLES / "chelsea-cat.jpg")]
        keys = cli.upload(files, stack.options.bucket, s3=stack.s3, show_progress=False)
        stack.wait_until_indexed(keys, timeout=60)

    index = f"{index_alias}-v*"
    health = search_client.cluster.health(index=index, wait_for_status="green", timeout="20s")
    assert health["status"] == "green" and health["unassigned_shards"] == 0
    settings = search_client.indices.get_settings(index=index)
    assert [s["settings"]["index"]["number_of_replicas"] for s in settings.values()] == ["0"]
