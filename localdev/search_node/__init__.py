"""Real, throw-away Elasticsearch and OpenSearch nodes for tests and local runs.

Each is the distribution's minimal integ-test-zip from Maven Central (the one both projects'
own builds use for integration-test clusters), plus the modules the app needs, started on
127.0.0.1 with a JDK the version supports. See ``python -m localdev.search_node --help``.

From Python (e.g. a session-scoped pytest fixture):

    with running_node(Engine.parse("elasticsearch-6.8.23")) as node:
        requests.get(node.url)

Where things live:
  * <project>/.cache/search-node/   downloaded zips and module jars (git-ignored)
  * /var/tmp/image-label-search-nodes/<engine>/   the unpacked node, reused across runs
  * /var/tmp/image-label-search-nodes/runs/<tmp>/  config, data and logs of one start

Environment: ENGINE (default opensearch-2.19.6), SEARCH_NODE_HEAP (default 512m),
SEARCH_NODE_CACHE and SEARCH_NODE_ROOT (the two folders above), JAVA_HOME (used when the
engine runs on it).
"""

from localdev.search_node.engines import DEFAULT_ENGINE, MATRIX, Engine
from localdev.search_node.node import Node, default_engine, running_node, start_node

__all__ = [
    "DEFAULT_ENGINE",
    "MATRIX",
    "Engine",
    "Node",
    "default_engine",
    "running_node",
    "start_node",
]
