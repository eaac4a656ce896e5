"""Mapping migrations: the alias moves to the current mapping version's index, without downtime.

    python -m localdev.aws migrate --stage S [--delete-old]          (a deployed stage)
    python -m localdev.cli migrate --endpoint URL [--alias A] [--delete-old]   (any node)

1. The target, ``<alias>-v<MAPPING_VERSION>``, is created from ``mapping.index_template`` with
   the source's replica count (or reused: a stopped run resumes into it).
2. Full copy: every document of the source (tombstones included), 1,000 per search_after page
   sorted on ``image_id``, written to the target through ``ElasticsearchStore.on_index``: the
   store's own ordering rule (``supersedes``) and conditional writes (``create``, or
   ``if_seq_no``/``if_primary_term`` of the version it compared against). A copied document
   therefore only creates an absent image or replaces an older state; a tombstone is never
   overwritten by an older live document, whichever of the copy and the pipeline writes first.
3. Catch-up rounds: the documents whose ``_seq_no`` is above the source's checkpoint taken
   before the previous pass, until a round moves at most 100 documents (or after 10 rounds).
4. The swap: one ``_aliases`` request removes the sources and adds the target as the write
   index, so every search and write sees one index or the other, never none.
   The same request puts the marker alias ``<alias>-migration-source`` on the sources.
5. The sources get ``index.blocks.write``: a replacement that the store read from a source
   before the swap names that index (``_seq_no`` and ``_primary_term`` are per index, so it
   must not be applied to the target's state with the same pair), and once the block is on it
   is refused with a ``cluster_block_exception``, which the store reads as "read again and
   decide again", now through the alias on the target; it never vanishes into a kept index.
   After 1 s (ample for such an in-flight bulk) the final catch-up runs until the sources'
   checkpoint holds still, then the marker alias goes. A run that stopped before that leaves
   the marker, and the next run copies the marked sources once more (a full pass: newer states
   in the target win) instead of answering "nothing to do".
   The sources stay, read-only, until ``--delete-old`` (in the same run or a later one).

The change marker is ``_seq_no``: every write of a document gives it the shard's next sequence
number, and a range query and ``seq_no`` index stats work on Elasticsearch 6.8 and 7.x and on
every OpenSearch (every engine of the test matrix runs tests/integration/test_migration.py).
The marker is the primary shards' global checkpoint, read before the refresh that precedes
each pass: every operation at or below it has been processed on every copy, so the refreshed
pass sees it; anything later is above the marker and found by the next pass. With several
shards the lowest checkpoint is used, so a pass may re-read documents, which the ordering rule
then skips as stale.

Not ``_reindex``: it lives in the ``reindex`` module, which the minimal distributions (the
integ-test zips the tests run) lack. A tombstone that ``compact`` deletes from the source while
a migration runs stays in the target; the next compact removes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, TextIO

from elasticsearch import Elasticsearch
from elasticsearch.exceptions import NotFoundError

from chalicelib.store import engine, mapping
from chalicelib.store.base import FAILED, STALE, WRITTEN, ImageWrite
from chalicelib.store.elasticsearch_store import ElasticsearchStore
from localdev.progress import ProgressBar

# 1,000 documents of about 2.5 kB make bulk requests of about 2.5 MB, far below the 10 MB
# http.max_content_length of the smallest Amazon OpenSearch Service instance types.
PAGE_SIZE = 1000
# Catch-up rounds repeat while the pipeline wrote more than this during the previous pass; the
# final catch-up after the swap copies whatever is left, so the bound only shortens that step.
SMALL_DELTA = 100
MAX_CATCH_UP_ROUNDS = 10
# A bulk request that resolved the alias just before the swap reaches its shard within
# milliseconds; 1 s later the write block has either stopped it or its operation is visible.
SETTLE_SECONDS = 1.0
# The final catch-up ends when the checkpoint holds still; it only moves for such late writes.
MAX_FINAL_ROUNDS = 10
MATCH_ALL: dict[str, Any] = {"match_all": {}}


class MigrationError(Exception):
    """The migration cannot start or could not finish; the message says what to do."""


class Phase(StrEnum):
    COPY = "copy"
    CATCH_UP = "catch-up"
    SWAP = "swap"
    FINAL = "final catch-up"
    DONE = "done"


@dataclass(frozen=True)
class MigrationProgress:
    """Reported at the start of every phase and after every page."""

    phase: Phase
    total: int  # documents in the source when the copy started
    copied: int = 0
    caught_up: int = 0
    stale: int = 0

    @property
    def done(self) -> int:
        return self.copied + self.caught_up + self.stale


@dataclass(frozen=True)
class MigrationResult:
    alias: str
    sources: tuple[str, ...]
    target: str
    copied: int = 0
    caught_up: int = 0
    stale: int = 0  # copied documents that the target already held as new or newer
    seconds: float = 0.0
    migrated: bool = True  # False: the alias already pointed at the target

    def summary(self) -> str:
        if not self.migrated:
            return f"nothing to do: {self.alias} already points at {self.target}"
        kept = ", ".join(self.sources)
        return (
            f"{self.alias} now points at {self.target}: copied {self.copied:,}, caught up "
            f"{self.caught_up:,}, skipped {self.stale:,} as stale, in {self.seconds:.1f} s; "
            f"{kept} kept read-only until migrate --delete-old"
        )


Observer = Callable[[MigrationProgress], None]


@dataclass
class IndexMigration:
    client: Elasticsearch
    alias: str
    observer: Observer = field(default=lambda progress: None)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _progress: MigrationProgress = field(init=False, default=MigrationProgress(Phase.COPY, 0))

    @property
    def target(self) -> str:
        return mapping.versioned_index(self.alias)

    @property
    def source_marker(self) -> str:
        """An alias on the sources from the swap until the final catch-up is done: a run that
        stops in between leaves it, and the next run does that catch-up."""
        return f"{self.alias}-migration-source"

    # -- the migration ------------------------------------------------------------------------

    def run(self) -> MigrationResult:
        started = self.clock()
        unfinished = self._marked_sources()
        sources = unfinished or self._sources()
        if not sources:
            return MigrationResult(self.alias, (), self.target, migrated=False)
        self._progress = MigrationProgress(Phase.COPY, self.client.count(index=sources)["count"])
        if unfinished:
            # The checkpoint of the stopped run is gone: a full pass, the rest skipped as stale.
            self._final_catch_up(unfinished, dict.fromkeys(unfinished, -1))
        else:
            self._create_target(engine.detect(self.client), sources)
            markers = self._checkpoints(sources)
            self._enter(Phase.COPY)
            for source in sources:
                self._copy(source, MATCH_ALL)
            self._enter(Phase.CATCH_UP)
            for _ in range(MAX_CATCH_UP_ROUNDS):
                markers, read = self._catch_up(markers)
                if read <= SMALL_DELTA:
                    break
            self._swap(sources)
            self._final_catch_up(sources, markers)
        self._enter(Phase.DONE)
        done = self._progress
        return MigrationResult(
            self.alias,
            tuple(sources),
            self.target,
            done.copied,
            done.caught_up,
            done.stale,
            self.clock() - started,
        )

    def _swap(self, sources: list[str]) -> None:
        """One _aliases request: the alias moves, the sources get the marker alias."""
        # Searches right after the swap must find every copied document, not wait for the
        # target's next periodic refresh (1 s).
        self.client.indices.refresh(index=self.target)
        self._enter(Phase.SWAP)
        actions: list[dict[str, Any]] = [
            {"remove": {"index": index, "alias": self.alias}} for index in sources
        ]
        actions.append({"add": {"index": self.target, "alias": self.alias, "is_write_index": True}})
        actions += [{"add": {"index": index, "alias": self.source_marker}} for index in sources]
        self.client.indices.update_aliases(body={"actions": actions})

    def _final_catch_up(self, sources: list[str], markers: dict[str, int]) -> None:
        self._enter(Phase.FINAL)
        self.client.indices.put_settings(index=sources, body={"index.blocks.write": True})
        self.sleep(SETTLE_SECONDS)
        for _ in range(MAX_FINAL_ROUNDS):
            before = markers
            markers, _read = self._catch_up(markers)
            if markers == before:
                break
        self.client.indices.refresh(index=self.target)
        self.client.indices.delete_alias(index=sources, name=self.source_marker)

    def _marked_sources(self) -> list[str]:
        try:
            return sorted(self.client.indices.get_alias(name=self.source_marker))
        except NotFoundError:
            return []

    def _sources(self) -> list[str]:
        """The indices behind the alias other than the target; empty when there is nothing to do."""
        try:
            behind = sorted(self.client.indices.get_alias(name=self.alias))
        except NotFoundError:
            raise MigrationError(
                f"no index behind the alias {self.alias}: nothing to migrate (the first write "
                f"creates {self.target} with the current mapping)"
            ) from None
        newer = [
            index for index in behind if (mapping.version_of(index) or 1) > mapping.MAPPING_VERSION
        ]
        if newer:
            raise MigrationError(
                f"{', '.join(newer)} has a newer mapping than this code's version "
                f"{mapping.MAPPING_VERSION}: run migrate from an up-to-date clone"
            )
        return [index for index in behind if index != self.target]

    def _create_target(self, compat: engine.EngineCompat, sources: list[str]) -> None:
        if self.client.indices.exists(index=self.target):
            return  # a stopped run created it: copying again is idempotent
        settings = self.client.indices.get_settings(index=sources, name="index.number_of_replicas")
        replicas = max(
            int(entry["settings"]["index"]["number_of_replicas"]) for entry in settings.values()
        )
        template = mapping.index_template(self.alias, replicas)
        body = compat.index_body(
            {"settings": template["settings"], "mappings": template["mappings"]}
        )
        self.client.indices.create(index=self.target, body=body, params=compat.template_params)
        # A new index answers 503 until its primary shard has started.
        self.client.cluster.health(index=self.target, wait_for_status="yellow", timeout="30s")

    def _checkpoints(self, sources: Sequence[str]) -> dict[str, int]:
        """Each source's lowest primary global checkpoint, then a refresh (see the module doc)."""
        stats = self.client.indices.stats(index=list(sources), level="shards", metric="docs")
        markers = {
            index: min(
                copy["seq_no"]["global_checkpoint"]
                for copies in stats["indices"][index]["shards"].values()
                for copy in copies
                if copy["routing"]["primary"]
            )
            for index in sources
        }
        self.client.indices.refresh(index=list(sources))
        return markers

    def _catch_up(self, markers: dict[str, int]) -> tuple[dict[str, int], int]:
        """One pass over what changed above ``markers``; returns the new markers and how many
        documents the pass read."""
        following = self._checkpoints(list(markers))
        read = 0
        for source, marker in markers.items():
            read += self._copy(source, {"range": {"_seq_no": {"gt": marker}}})
        return following, read

    def _copy(self, source: str, query: dict[str, Any]) -> int:
        target = ElasticsearchStore.on_index(self.client, self.target)
        read = 0
        for hits in self._pages(source, query):
            # The store derives v2's band fields (mapping.index_document) at every write.
            results = target.write([ImageWrite(hit["_id"], hit["_source"]) for hit in hits])
            failed = [result.reason for result in results if result.status == FAILED]
            if failed:
                raise MigrationError(
                    f"{len(failed)} document(s) could not be copied into {self.target} "
                    f"({failed[0]}); run migrate again: it resumes, copies are idempotent"
                )
            written = sum(result.status == WRITTEN for result in results)
            stale = sum(result.status == STALE for result in results)
            done = self._progress
            if done.phase is Phase.COPY:
                self._progress = replace(
                    done, copied=done.copied + written, stale=done.stale + stale
                )
            else:
                self._progress = replace(
                    done, caught_up=done.caught_up + written, stale=done.stale + stale
                )
            self.observer(self._progress)
            read += len(hits)
        return read

    def _pages(self, source: str, query: dict[str, Any]) -> Iterator[list[dict]]:
        """search_after on ``image_id`` (unique, a keyword with doc values): no scroll context
        to keep or free, and every request stays on the index's own _search path."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": PAGE_SIZE,
                "query": query,
                "sort": [{"image_id": "asc"}],
            }
            if after is not None:
                body["search_after"] = after
            hits = self.client.search(index=source, body=body)["hits"]["hits"]
            if not hits:
                return
            yield hits
            after = hits[-1]["sort"]

    def _enter(self, phase: Phase) -> None:
        self._progress = replace(self._progress, phase=phase)
        self.observer(self._progress)

    # -- deleting the old indices -------------------------------------------------------------

    def delete_old(self) -> list[str]:
        """Delete the older versions of the alias's index once the alias points at the target
        only; returns their names."""
        try:
            behind = set(self.client.indices.get_alias(name=self.alias))
        except NotFoundError:
            behind = set()
        unfinished = self._marked_sources()
        if unfinished:
            raise MigrationError(
                f"the final catch-up from {', '.join(unfinished)} has not finished: run migrate "
                "first; nothing was deleted"
            )
        if behind != {self.target}:
            where = ", ".join(sorted(behind)) or "no index"
            raise MigrationError(
                f"{self.alias} points at {where}, not {self.target} alone: run migrate first; "
                "nothing was deleted"
            )
        versions = self.client.indices.get_alias(index=f"{self.alias}-v*")
        old = sorted(
            index
            for index in versions
            if (mapping.version_of(index) or mapping.MAPPING_VERSION) < mapping.MAPPING_VERSION
        )
        if old:
            self.client.indices.delete(index=old)
        return old


class ProgressLine:
    """An observer that draws the migration on a progress bar (stderr by default)."""

    def __init__(self, stream: TextIO | None = None):
        self._bar = ProgressBar("migrate", stream=stream)

    def __call__(self, progress: MigrationProgress) -> None:
        self._bar.total = max(progress.total, progress.done)
        self._bar.update(progress.done, str(progress.phase))

    def close(self) -> None:
        self._bar.close()


def migrate(
    client: Elasticsearch, alias: str, delete_old: bool, stream: TextIO | None = None
) -> list[str]:
    """What both command lines run: the migration (nothing when it is done already), then with
    ``delete_old`` the deletion of the older indices. Returns the lines to print."""
    line = ProgressLine(stream)
    migration = IndexMigration(client, alias, line)
    try:
        lines = [migration.run().summary()]
    finally:
        line.close()  # a summary or an error starts on a line of its own
    if delete_old:
        deleted = migration.delete_old()
        lines.append(f"deleted {', '.join(deleted)}" if deleted else "no older index to delete")
    return lines
