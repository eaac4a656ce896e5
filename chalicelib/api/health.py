"""GET /health: whether the search cluster answers, for load balancers and the deploy checks."""

from __future__ import annotations

from chalicelib.api.errors import ServiceUnavailable
from chalicelib.store.base import ImageStore

UNHEALTHY_MESSAGE = "the search cluster is unavailable"


def cluster_health(store: ImageStore) -> dict[str, str]:
    if not store.ping():
        raise ServiceUnavailable(UNHEALTHY_MESSAGE)
    return {"status": "ok"}
