"""The image store on Elasticsearch 6.8/7.x or OpenSearch (Amazon OpenSearch Service in AWS).

Requests are written once, typeless; chalicelib.store.engine adapts the few that differ per
engine (chosen from the cluster's GET / answer) and reads the answers that differ.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch.exceptions import (
    AuthorizationException,
    ElasticsearchException,
    NotFoundError,
    RequestError,
    TransportError,
)
from elasticsearch.exceptions import (
    ConnectionError as ClusterConnectionError,
)

from chalicelib.documents import supersedes
from chalicelib.logs import LOGGER_NAME
from chalicelib.search.query import (
    Filters,
    LabelCount,
    SearchHit,
    SearchPage,
    SearchQuery,
    fold,
)
from chalicelib.store import engine, es_queries, label_ranking, mapping
from chalicelib.store.base import (
    FAILED,
    STALE,
    WRITTEN,
    ImageStore,
    ImageWrite,
    QueryRejected,
    StoreUnavailable,
    WriteResult,
    newest_per_image,
)
from chalicelib.vocabulary import ImageDocument, StoredPosition

# A concurrent writer (another Lambda instance) can change a document between our read and our
# conditional write; we then read again and decide again, a bounded number of times.
CONFLICT_ROUNDS = 4
VERSION_CONFLICT = 409
# Derived at every write; a version 1 index written to by this code holds them in _source.
BAND_FIELDS = list(mapping.BAND_FIELDS)
# /labels over every image ranks at most this many names by their terms (label_ranking);
# beyond it, the aggregation. Rekognition's label catalogue has about 3,000 names; listing one
# more than this stays within search.max_buckets (10,000 on Elasticsearch 7.0-7.8).
LABEL_NAMES_LIMIT = 9_999
# The copy (primary or replica) that the ranking's requests all read, so that its names, bounds
# and counts come from one copy's state.
RANKING_PREFERENCE = "label-ranking"
UNKNOWN_BOUND = 2**62
# How long a warm store keeps the newest image's time as the start of its time windows.
NEWEST_TIME_SECONDS = 30.0
# Tombstones removed per search + bulk round: 1,000 small deletes make a bulk of about 150 kB.
TOMBSTONE_PAGE = 1000


class ElasticsearchStore(ImageStore):
    def __init__(self, client: Elasticsearch, alias: str, replicas: int = 1):
        self._client = client
        self._alias = alias
        self._replicas = replicas
        self._ready = False
        self._version: int | None = None  # the mapping version behind the alias, once read
        self._pinned = False
        self._newest: tuple[float, int | None] | None = None  # (monotonic time read, value)
        self._ranking_refused = False

    @classmethod
    def on_index(cls, client: Elasticsearch, index: str) -> ElasticsearchStore:
        """A store over one existing index instead of the alias (a migration's target,
        localdev/migration.py): the same ordering rule and conditional writes; it never puts
        a template or creates an index."""
        store = cls(client, index)
        store._ready = True
        return store

    @property
    def alias(self) -> str:
        return self._alias

    @property
    def client(self) -> Elasticsearch:
        """The cluster client (the benchmark wraps its ``search`` to time what the API sends)."""
        return self._client

    # -- index management -------------------------------------------------------------------

    def ensure_ready(self) -> None:
        if self._ready:
            return
        # The engine first: an unsupported one is refused before any request is sent to it.
        compat = self._compat()
        template = compat.index_body(mapping.index_template(self._alias, self._replicas))
        self._client.indices.put_template(
            name=self._alias, body=template, params=compat.template_params
        )
        if not self._client.indices.exists_alias(name=self._alias):
            self._create_index_with_alias()
            # A new index answers 503 until its primary shard has started.
            self._client.cluster.health(index=self._alias, wait_for_status="yellow", timeout="30s")
        else:
            # An index of an older mapping version until its migration: the derived fields
            # every write now carries are added to it (additive, a no-op where they exist).
            self._client.indices.put_mapping(
                index=self._alias,
                body={"properties": mapping.BAND_MAPPINGS},
                **compat.put_mapping_params,
            )
        self._ready = True

    def _create_index_with_alias(self) -> None:
        try:
            self._client.indices.create(
                index=mapping.versioned_index(self._alias),
                body={"aliases": {self._alias: {"is_write_index": True}}},
            )
        except RequestError as error:
            # Another instance created it between our check and our create.
            if error.error != "resource_already_exists_exception":
                raise

    # -- writes -------------------------------------------------------------------------------

    def write(self, writes: Sequence[ImageWrite]) -> list[WriteResult]:
        newest, results = newest_per_image(writes)
        pending = {image_id: writes[index] for image_id, index in newest.items()}
        outcome: dict[str, WriteResult] = {}
        try:
            self.ensure_ready()
            for _ in range(CONFLICT_ROUNDS):
                if not pending:
                    break
                pending = self._write_round(pending, outcome)
            for image_id in pending:
                outcome[image_id] = WriteResult(FAILED, "version conflicts did not settle")
        except ElasticsearchException as error:
            failure = WriteResult(FAILED, f"search cluster error: {_describe(error)}")
            outcome.update((image_id, failure) for image_id in pending if image_id not in outcome)
        results.update((newest[image_id], result) for image_id, result in outcome.items())
        return [results[index] for index in range(len(writes))]

    def _write_round(
        self, pending: dict[str, ImageWrite], outcome: dict[str, WriteResult]
    ) -> dict[str, ImageWrite]:
        """Write every pending image that is newer than its stored state; return the conflicts."""
        stored = self.stored_states(list(pending))
        actions: list[dict] = []
        for image_id, write in pending.items():
            current = stored.get(image_id)
            if current and not supersedes(write.document, current["_source"]):
                outcome[image_id] = WriteResult(STALE, "a newer or equal state is already stored")
                continue
            actions.append(
                self._compat().bulk_action(_conditional_action(self._alias, image_id, current))
            )
            actions.append(mapping.index_document(write.document))
        if not actions:
            return {}
        # Through the alias path (POST /<alias>/_bulk): the role may POST there, not to /_bulk.
        response = self._client.bulk(index=self._alias, body=_ndjson(actions))
        conflicts = {}
        for item in response["items"]:
            result = next(iter(item.values()))
            image_id = result["_id"]
            if _read_again(result):
                conflicts[image_id] = pending[image_id]
            elif "error" in result:
                outcome[image_id] = WriteResult(FAILED, _describe_item_error(result["error"]))
            else:
                outcome[image_id] = WriteResult(WRITTEN)
        return conflicts

    def stored_states(self, image_ids: list[str]) -> dict[str, dict]:
        """The stored documents as write() reads them before its conditional writes (their
        _seq_no and _primary_term with sequencer and event_time), by id; absent ids are left
        out. Public so that a test can answer it to force a race."""
        response = self._client.mget(
            index=self._alias,
            body={"ids": image_ids},
            _source_includes=["sequencer", "event_time"],
        )
        return {doc["_id"]: doc for doc in response["docs"] if doc.get("found")}

    # -- reads --------------------------------------------------------------------------------

    def stored_positions(self, image_ids: Sequence[str]) -> dict[str, StoredPosition]:
        if not image_ids:
            return {}
        try:
            with _unavailable_as_store_error():
                stored = self.stored_states(list(image_ids))
        except NotFoundError:  # no index yet: nothing is stored
            return {}
        return {image_id: doc["_source"] for image_id, doc in stored.items()}

    def get(self, image_id: str) -> ImageDocument | None:
        with _unavailable_as_store_error():
            # A missing document or index is an answer, not an error worth a warning log line.
            response = self._client.get(
                index=self._alias, id=image_id, ignore=[404], _source_excludes=BAND_FIELDS
            )
        if not response.get("found"):
            return None
        document = response["_source"]
        return None if document.get("deleted") else document

    def live_documents(self, image_ids: Sequence[str]) -> dict[str, ImageDocument]:
        if not image_ids:
            return {}
        try:
            with _unavailable_as_store_error():
                response = self._client.mget(
                    index=self._alias, body={"ids": list(image_ids)}, _source_excludes=BAND_FIELDS
                )
        except NotFoundError:  # no index yet: nothing is stored
            return {}
        return {
            doc["_id"]: doc["_source"]
            for doc in response["docs"]
            if doc.get("found") and not doc["_source"].get("deleted")
        }

    def remove_tombstones(self, written_before: str) -> int:
        """Pages of old tombstones, each deleted only at the version that was read.

        Not _delete_by_query: it lives in the ``reindex`` module, which the minimal
        distributions (integ-test zips) of every engine the tests run lack. A search and a
        conditional bulk delete are what _delete_by_query does itself, on every engine.
        """
        removed = 0
        try:
            with _unavailable_as_store_error():
                compat = self._compat()
                while hits := self._tombstone_page(written_before):
                    removed += self._delete_unchanged(compat, hits)
        except NotFoundError:  # no index yet: no tombstones
            return 0
        return removed

    def _tombstone_page(self, written_before: str) -> list[dict]:
        body = es_queries.tombstones_before(written_before, TOMBSTONE_PAGE)
        return self._client.search(index=self._alias, body=body)["hits"]["hits"]

    def _delete_unchanged(self, compat: engine.EngineCompat, hits: list[dict]) -> int:
        actions = [
            compat.bulk_action(
                {
                    "delete": {
                        "_index": hit["_index"],
                        "_id": hit["_id"],
                        "if_seq_no": hit["_seq_no"],
                        "if_primary_term": hit["_primary_term"],
                    }
                }
            )
            for hit in hits
        ]
        # refresh: the next page's search must not find these again.
        response = self._client.bulk(index=self._alias, body=_ndjson(actions), refresh="true")
        removed = 0
        for item in response["items"]:
            result = item["delete"]
            if result.get("status") == VERSION_CONFLICT:
                continue  # a create replaced the tombstone meanwhile: the image is live again
            if "error" in result:
                raise StoreUnavailable(_describe_item_error(result["error"]))
            removed += result.get("result") == "deleted"
        return removed

    def search(self, query: SearchQuery) -> SearchPage:
        try:
            with _unavailable_as_store_error():
                compat = self._compat()
                version = self._mapping_version()
                # Version 1's queries are the design before version 2, counting every match.
                counting = compat.track_total_hits(query.total_hits_limit) if version >= 2 else True
                # A narrower search that holds a whole page holds exactly the page (a label's
                # best bands, the exact text matches, the last hours of a newest-first search);
                # the matches are then counted unranked.
                wants_newest = es_queries.wants_newest_time(query, version)
                newest = self._newest_time() if wants_newest else None
                for shortcut in es_queries.shortcuts(query, version, newest):
                    found = self._search(shortcut.body)["hits"]["hits"]
                    if shortcut.holds_page(found, query.size):
                        count = es_queries.count_body(query.filters, version, counting)
                        counted = self._search(count)["hits"]
                        return self._page(query, found, counted, compat, shortcut.score)
                body = es_queries.search_body(query, version, track_total_hits=counting)
                response = self._search(body)
        except NotFoundError:  # no index yet (a fresh stage): nothing to find, as in SQLite
            return SearchPage(total=0, hits=[], has_more=False)
        return self._page(query, response["hits"]["hits"], response["hits"], compat)

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._client.search(index=self._alias, body=body)

    def _newest_time(self) -> int | None:
        """Epoch milliseconds of the newest live image (None when nothing is stored), read again
        once it is NEWEST_TIME_SECONDS old: it only decides where the time windows start, never
        what a page holds (es_queries.time_windows), and reading it costs 14 ms at 1M."""
        now = time.monotonic()
        if self._newest is None or now - self._newest[0] > NEWEST_TIME_SECONDS:
            hits = self._search(es_queries.newest_time_body())["hits"]["hits"]
            self._newest = (now, int(hits[0]["sort"][0]) if hits else None)
        return self._newest[1]

    def _page(
        self,
        query: SearchQuery,
        hits: list[dict],
        counted: dict,
        compat: engine.EngineCompat,
        score: float | None = None,
    ) -> SearchPage:
        """``score``: the score every hit has, which its sort values leave out."""
        self._notice_index_versions(hits)
        total, exact = compat.total_hits(counted, query.total_hits_limit)
        prefix = () if score is None else (score,)
        return SearchPage(
            total=total,
            hits=[SearchHit(hit["_source"], (*prefix, *hit["sort"])) for hit in hits[: query.size]],
            has_more=len(hits) > query.size,
            total_is_exact=exact,
        )

    def _mapping_version(self) -> int:
        """The mapping version that the queries may rely on: the lowest of the indices behind
        the alias (GET _alias once per store, then whatever the hits' ``_index`` show)."""
        if self._version is None:
            try:
                indices = self._client.indices.get_alias(name=self._alias)
            except NotFoundError:  # nothing created yet: the first write creates the current one
                return mapping.MAPPING_VERSION
            self._version = min(mapping.version_of(index) or 1 for index in indices)
        return self._version

    def _notice_index_versions(self, hits: list[dict]) -> None:
        """After a migration's alias swap a warm store sees the new index in its hits: from the
        next search on it uses that version's queries."""
        seen = {mapping.version_of(hit.get("_index", "")) or 1 for hit in hits}
        if seen and not self._pinned and self._version is not None and min(seen) > self._version:
            self._version = min(seen)

    def pin_query_version(self, version: int) -> None:
        """Use one mapping version's queries whatever the alias holds: bench.search measures
        version 1's (the design before version 2) beside version 2's on the same index."""
        self._version, self._pinned = version, True

    def label_counts(self, filters: Filters, prefix: str | None, size: int) -> list[LabelCount]:
        try:
            with _unavailable_as_store_error():
                compat = self._compat()
                version = self._mapping_version()
                # Version 1's design aggregates (bench.search measures it beside this one).
                ranking = version >= 2 and not self._ranking_refused
                # Over every live image a name's count is its term's: tombstones and the
                # nested label documents hold no label_names.
                if ranking and not filters.narrows:
                    ranked = self._ranked_label_counts_or_none(compat, prefix, size)
                    if ranked is not None:
                        return ranked
                body = es_queries.label_counts_body(
                    filters,
                    prefix,
                    size,
                    map_hint=compat.prefix_terms_need_map_hint,
                    version=version,
                )
                response = self._client.search(index=self._alias, body=body)
        except NotFoundError:  # no index yet: no labels
            return []
        return [
            LabelCount(bucket["key"], bucket["doc_count"])
            for bucket in response["aggregations"]["labels"]["buckets"]
        ]

    def _ranked_label_counts_or_none(
        self, compat: engine.EngineCompat, prefix: str | None, size: int
    ) -> list[LabelCount] | None:
        """The ranking, or None after a refusal of one of its requests (403: a role whose policy
        predates them; 400: a domain that does not take them): the aggregation answers then,
        and from then on, with one warning."""
        try:
            return self._ranked_label_counts(compat, prefix, size)
        except (AuthorizationException, RequestError) as error:
            self._ranking_refused = True
            logging.getLogger(LOGGER_NAME).warning(
                "label ranking refused; /labels aggregates from now on",
                extra={"reason": _describe(error)},
            )
            return None

    def _ranked_label_counts(
        self, compat: engine.EngineCompat, prefix: str | None, size: int
    ) -> list[LabelCount] | None:
        """label_ranking's counts over every image; None where they do not apply: more names
        than LABEL_NAMES_LIMIT, or more than one shard (a document frequency is a shard's)."""
        body = es_queries.label_names_body(
            prefix, LABEL_NAMES_LIMIT + 1, compat.prefix_terms_need_map_hint
        )
        response = self._client.search(index=self._alias, body=body, preference=RANKING_PREFERENCE)
        names = [bucket["key"] for bucket in response["aggregations"]["names"]["buckets"]]
        if response["_shards"]["total"] != 1 or len(names) > LABEL_NAMES_LIMIT:
            return None
        if not names:
            return []
        vectors = self._client.termvectors(
            index=self._alias,
            body=es_queries.document_frequencies_body(names),
            doc_type=compat.mapping_type,
            preference=RANKING_PREFERENCE,
        )
        terms = vectors.get("term_vectors", {}).get("label_names", {}).get("terms", {})
        # The bounds are keyed by the folded term: where Python's folding and the index's
        # normalizer disagree on any name, a name could take another's bound, so aggregate.
        if set(terms) != {fold(name) for name in names}:
            return None
        bounds = {name: terms[fold(name)].get("doc_freq", UNKNOWN_BOUND) for name in names}
        return label_ranking.top_counts(bounds, self._name_counts, size)

    def _name_counts(self, names: list[str]) -> dict[str, int]:
        body = _ndjson(es_queries.name_count_searches(names, RANKING_PREFERENCE))
        responses = self._client.msearch(index=self._alias, body=body)["responses"]
        counts = {}
        for name, response in zip(names, responses, strict=True):
            if "error" in response:
                raise StoreUnavailable(
                    f"counting {name!r}: {_describe_item_error(response['error'])}"
                )
            counts[name] = engine.EngineCompat.total_hits(response["hits"], 2**62)[0]
        return counts

    def ping(self) -> bool:
        return self._client.ping()

    def _compat(self) -> engine.EngineCompat:
        """The engine's dialect (GET / on first use, cached per client).

        Raises UnsupportedEngine, which no caller turns into a per-item failure: a wrong engine
        must stop the function with one clear error, not fill the dead-letter queue.
        """
        return engine.detect(self._client)


# 4xx answers that say the cluster cannot serve us now (timeout, throttling, our role or user
# refused), not that the request was wrong: the caller can only try again later.
_UNAVAILABLE_4XX = frozenset({401, 403, 408, 429})


@contextmanager
def _unavailable_as_store_error():
    """Connection failures, timeouts, throttling and 5xx answers mean the cluster is
    unavailable; any other 4xx is a rejected request. A missing index (404) is passed on as
    NotFoundError for the caller to answer "nothing stored yet"."""
    try:
        yield
    except ClusterConnectionError as error:  # includes ConnectionTimeout
        raise StoreUnavailable(_describe(error)) from error
    except NotFoundError:
        raise
    except TransportError as error:
        status = error.status_code if isinstance(error.status_code, int) else 500
        if status >= 500 or status in _UNAVAILABLE_4XX:
            raise StoreUnavailable(_describe(error)) from error
        raise QueryRejected(_describe(error)) from error


def _read_again(result: dict) -> bool:
    """A conditional write to read again and decide again: another writer got there first
    (409), or the index it was read from has been made read-only by a migration that has
    just moved the alias to its successor (403 ``cluster_block_exception``)."""
    status = result.get("status")
    blocked = (result.get("error") or {}).get("type") == "cluster_block_exception"
    return status == VERSION_CONFLICT or (status == 403 and blocked)


def _conditional_action(alias: str, image_id: str, current: dict | None) -> dict:
    """Create if absent, else replace only the exact version we compared against, in the
    index it was read from: ``_seq_no`` and ``_primary_term`` are per index, so after a
    migration's alias swap the same pair may name another state in the new index."""
    if current is None:
        return {"create": {"_index": alias, "_id": image_id}}
    return {
        "index": {
            "_index": current["_index"],
            "_id": image_id,
            "if_seq_no": current["_seq_no"],
            "if_primary_term": current["_primary_term"],
        }
    }


def _ndjson(lines: list[dict]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def _describe_item_error(error: dict) -> str:
    return f"{error.get('type', 'error')}: {error.get('reason', '')}"[:500]


def _describe(error: ElasticsearchException) -> str:
    return f"{type(error).__name__}: {error}"[:500]
