"""A v1 -> v2 migration on the session's real node while the pipeline keeps writing.

10,000 documents (bench/corpus.py builds them as the handler does) are written through the
store into a version-1 index behind the alias. The migration runs in a thread while 1,000
creates and deletes flow through app.index_images (Rekognition faked, everything else real:
the ingestor, the store, the node) and the search API is called in a loop. The events are
released in four parts at the migration's phases: during the full copy, during the catch-up,
across the swap and during the final catch-up, so every engine of the matrix sees the same
interleavings. Then every image's state equals a replay of the events by the documented
ordering rule (the highest S3 sequencer wins; chalicelib.documents.supersedes): nothing lost,
duplicated or resurrected, and no search answered 5xx.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bench import corpus
from chalicelib import documents
from chalicelib.call_timing import WallTimer
from chalicelib.documents import image_id
from chalicelib.events import REMOVED, ObjectEvent
from chalicelib.store import mapping
from chalicelib.store.base import ImageWrite
from chalicelib.store.elasticsearch_store import ElasticsearchStore
from chalicelib.timestamps import canonical_time
from localdev import cli, migration
from localdev.migration import IndexMigration, MigrationError, MigrationProgress, Phase
from tests.fuzz.harness import Lambda, stage_components, stage_settings
from tests.samples import s3_record, sqs_record
from tests.version_1_index import create_version_1_index

pytestmark = pytest.mark.integration

CORPUS_SIZE = 10_000
BATCH = 10  # records per invocation, Lambda's default batch size for SQS
PARTS = 4  # released at: the copy's first page, the catch-up, the swap, the final catch-up
WAIT_SECONDS = 120  # a phase that waits longer for the feeder has hung: fail, do not hang
MAX_DELIVERIES = 5  # SQS's receive count before the dead-letter queue (maxReceiveCount)
# 20 searches a second: a steady user, without starving the two cores the node and the
# pipeline share.
SEARCH_PAUSE_SECONDS = 0.05
LABELS = {
    "Labels": [
        {"Name": "Dog", "Confidence": 92.5, "Parents": [{"Name": "Animal"}]},
        {"Name": "Animal", "Confidence": 92.5, "Parents": []},
    ],
    "LabelModelVersion": "3.0",
}


class FakeRekognition:
    """DetectLabels, thread-safe, the same answer for every image."""

    def detect_labels(self, **request):
        return LABELS


@dataclass(frozen=True)
class Event:
    key: str
    created: bool
    sequencer: str
    etag: str | None = None

    def record(self, message_id: str, receive_count: int) -> dict:
        name = "ObjectCreated:Put" if self.created else "ObjectRemoved:Delete"
        s3 = s3_record(
            name,
            self.key,
            bucket=corpus.BUCKET,
            sequencer=self.sequencer,
            event_time=canonical_time(datetime.now(UTC)),
        )
        if self.etag:
            s3["s3"]["object"]["eTag"] = self.etag
        body = json.dumps({"Records": [s3]})
        return sqs_record(message_id, body, receive_count)


@dataclass(frozen=True)
class State:
    deleted: bool
    sequencer: str
    etag: str | None


def padded(sequencer: str) -> str:
    """S3's rule: compare sequencers right-padded with zeros to one length (18 is enough)."""
    return sequencer.upper().ljust(18, "0")


def event_plan(seed: int = 14) -> list[Event]:
    """1,000 events: deletes of corpus images, late creates that follow those deletes, newer
    versions, deletes followed by a re-upload, new images (half of them deleted), and 100
    redeliveries of earlier events, in a seeded order."""
    rng = random.Random(seed)
    numbers = rng.sample(range(CORPUS_SIZE), 550)
    deletes, late, newer, again = numbers[:200], numbers[200:300], numbers[300:450], numbers[450:]

    def base(number: int) -> str:
        return f"{number:016X}"

    first: list[Event] = []
    second: list[Event] = []
    for number in deletes + late + again:
        first.append(Event(corpus.key_of(number), False, base(number) + "10"))
    for number in late:  # older than the delete it follows: must not resurrect the image
        second.append(Event(corpus.key_of(number), True, base(number) + "05", f"late-{number}"))
    for number in newer:
        first.append(Event(corpus.key_of(number), True, base(number) + "20", f"newer-{number}"))
    for number in again:
        second.append(Event(corpus.key_of(number), True, base(number) + "30", f"again-{number}"))
    for n in range(100):
        key = f"migration/new-{n:03d}.jpg"
        first.append(Event(key, True, "0A", f"new-{n}"))
        if n % 2:
            second.append(Event(key, False, "0B"))
    rng.shuffle(first)
    rng.shuffle(second)
    events = first + second
    for _ in range(1000 - len(events)):  # redeliveries, each after its original
        position = rng.randrange(len(events))
        events.insert(rng.randrange(position + 1, len(events) + 1), events[position])
    return events


def replay(events: list[Event]) -> dict[str, State]:
    """The oracle: every key's state after the corpus and the events, by the ordering rule."""
    states = {corpus.key_of(n): State(False, f"{n:016X}", f"{n:032x}") for n in range(CORPUS_SIZE)}
    for event in events:
        current = states.get(event.key)
        if current is None or padded(event.sequencer) > padded(current.sequencer):
            states[event.key] = State(not event.created, event.sequencer, event.etag)
    return states


def stored_states(search_client, index: str, keys) -> dict[str, State]:
    keys = list(keys)
    stored = {}
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        ids = [image_id(corpus.BUCKET, key) for key in chunk]
        docs = search_client.mget(index=index, body={"ids": ids})["docs"]
        for doc in docs:
            if doc.get("found"):
                source = doc["_source"]
                stored[source["key"]] = State(
                    bool(source["deleted"]), source["sequencer"], source.get("etag")
                )
    return stored


def load_corpus(search_client, alias: str) -> None:
    store = ElasticsearchStore(search_client, alias, replicas=0)
    for first in range(0, CORPUS_SIZE, 1000):
        documents = [corpus.image_document(n) for n in range(first, first + 1000)]
        results = store.write([ImageWrite(d["image_id"], d) for d in documents])
        assert {result.status for result in results} == {"written"}


class Feeder:
    """Delivers the event parts through the handler as their gates open; a message the handler
    reports as failed is delivered again, as SQS does after its visibility timeout."""

    def __init__(self, function: Lambda, parts: list[list[Event]]):
        self.function = function
        self.parts = parts
        self.gates = [threading.Event() for _ in parts]
        self.done = [threading.Event() for _ in parts]
        self.swap_part_started = threading.Event()
        self.redelivered = 0
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            for number, part in enumerate(self.parts):
                if not self.gates[number].wait(WAIT_SECONDS):
                    raise AssertionError(f"part {number} was never released")
                for start in range(0, len(part), BATCH):
                    self.deliver(number, start, part[start : start + BATCH])
                    # Part 2 straddles the swap: the swap waits for its first five batches.
                    if number == 2 and start >= 4 * BATCH:
                        self.swap_part_started.set()
                self.done[number].set()
        except Exception as error:  # reported by the test, not lost in the thread
            self.errors.append(repr(error))
            for event in (*self.gates, *self.done, self.swap_part_started):
                event.set()

    def deliver(self, part: int, start: int, events: list[Event]) -> None:
        pending = {f"p{part}-{start + n}": event for n, event in enumerate(events)}
        for receive_count in range(1, MAX_DELIVERIES + 1):
            records = [event.record(mid, receive_count) for mid, event in pending.items()]
            payload = self.function.index_images(records)
            failed = {failure["itemIdentifier"] for failure in payload["batchItemFailures"]}
            pending = {mid: event for mid, event in pending.items() if mid in failed}
            if not pending:
                return
            self.redelivered += len(pending)
        raise AssertionError(f"messages {sorted(pending)} failed {MAX_DELIVERIES} times")


class PhaseGates:
    """The migration's observer: opens the feeder's gates at its phases."""

    def __init__(self, feeder: Feeder):
        self.feeder = feeder
        self.seen: list[Phase] = []

    def __call__(self, progress: MigrationProgress) -> None:
        first = progress.phase not in self.seen
        self.seen.append(progress.phase)
        gates, done = self.feeder.gates, self.feeder.done
        if progress.phase is Phase.COPY and progress.done > 0:
            gates[0].set()  # writes flow while the copy goes on
        elif progress.phase is Phase.CATCH_UP and first:
            wait(done[0], "part 0")
            gates[1].set()  # writes flow during the catch-up rounds
        elif progress.phase is Phase.SWAP:
            gates[2].set()
            wait(self.feeder.swap_part_started, "part 2")  # and across the swap
        elif progress.phase is Phase.FINAL and first:
            gates[3].set()  # and during the final catch-up (and after it)


def wait(event: threading.Event, what: str) -> None:
    if not event.wait(WAIT_SECONDS):
        raise AssertionError(f"{what} did not arrive in {WAIT_SECONDS} s")


@pytest.fixture
def function(serve_components, opensearch_url, index_alias):
    settings = stage_settings(
        search_endpoint=opensearch_url,
        index_alias=index_alias,
        image_bucket=corpus.BUCKET,
        rekognition_concurrency=1,
    )
    components = stage_components(
        settings, rekognition=FakeRekognition(), rekognition_timer=WallTimer()
    )
    # Lambda swaps the module's components per call: pinned, the two threads share them.
    serve_components(components)
    return Lambda(components)


def test_a_migration_under_writes_loses_duplicates_and_resurrects_nothing(
    search_client, index_alias, function, opensearch_url, capsys
):
    create_version_1_index(search_client, index_alias)
    load_corpus(search_client, index_alias)
    events = event_plan()
    size = len(events) // PARTS
    feeder = Feeder(function, [events[n * size : (n + 1) * size] for n in range(PARTS)])
    gates = PhaseGates(feeder)
    outcome: dict[str, object] = {}
    answers: list[tuple[Phase | None, int]] = []  # (the migration's phase, the status)
    stop_searching = threading.Event()

    def migrate():
        try:
            outcome["result"] = IndexMigration(search_client, index_alias, gates).run()
        except Exception as error:
            outcome["error"] = repr(error)
            for gate in feeder.gates:
                gate.set()

    def search():
        while not stop_searching.is_set():
            answer = function.http("GET", "/search", query={"label": ["Animal"], "size": ["5"]})
            answers.append((gates.seen[-1] if gates.seen else None, answer.status))
            stop_searching.wait(SEARCH_PAUSE_SECONDS)

    threads = [threading.Thread(target=target) for target in (feeder.run, migrate, search)]
    for thread in threads:
        thread.start()
    threads[0].join(WAIT_SECONDS * PARTS)
    threads[1].join(WAIT_SECONDS)
    stop_searching.set()
    threads[2].join(WAIT_SECONDS)

    assert feeder.errors == [] and "error" not in outcome
    result = outcome["result"]
    assert isinstance(result, migration.MigrationResult)
    v1, v2 = mapping.versioned_index(index_alias, 1), mapping.versioned_index(index_alias)
    assert (result.sources, result.target) == ((v1,), v2)
    assert result.copied >= CORPUS_SIZE and result.caught_up > 0
    assert [phase for phase in dict.fromkeys(gates.seen)] == list(Phase)
    # The search API answered throughout, the swap included.
    assert [answer for answer in answers if answer[1] != 200] == []
    assert {phase for phase, _ in answers} >= {Phase.COPY, Phase.CATCH_UP, Phase.FINAL}

    oracle = replay(events)
    search_client.indices.refresh(index=v2)
    stored = stored_states(search_client, v2, oracle)
    lost = sorted(set(oracle) - set(stored))
    resurrected = sorted(k for k, s in stored.items() if oracle[k].deleted and not s.deleted)
    wrong = sorted(k for k, s in stored.items() if s != oracle[k])
    assert (lost, resurrected, wrong[:5], len(wrong)) == ([], [], [], 0)
    assert search_client.count(index=v2)["count"] == len(oracle)  # no duplicates, no extras
    # Every live image carries v2's band fields: the copy and the pipeline both derive them.
    live = sum(not state.deleted for state in oracle.values())
    bands = {"query": {"exists": {"field": "label_bands"}}}
    assert search_client.count(index=v2, body=bands)["count"] == live

    assert search_client.indices.get_alias(name=index_alias) == {
        v2: {"aliases": {index_alias: {"is_write_index": True}}}
    }
    assert search_client.indices.exists(index=v1)  # kept until --delete-old
    capsys.readouterr()

    assert (
        cli.main(["migrate", "--endpoint", opensearch_url, "--alias", index_alias, "--delete-old"])
        == 0
    )

    assert capsys.readouterr().out.splitlines() == [
        f"nothing to do: {index_alias} already points at {v2}",
        f"deleted {v1}",
    ]
    assert not search_client.indices.exists(index=v1)
    assert set(search_client.indices.get_alias(name=index_alias)) == {v2}


class Stopped(Exception):
    pass


def test_a_run_stopped_after_the_swap_is_finished_by_the_next_run(search_client, index_alias):
    create_version_1_index(search_client, index_alias)
    store = ElasticsearchStore(search_client, index_alias, replicas=0)
    store.write([ImageWrite(d["image_id"], d) for d in map(corpus.image_document, range(50))])
    deleted = corpus.key_of(7)
    delete = ObjectEvent(
        action=REMOVED,
        bucket=corpus.BUCKET,
        key=deleted,
        event_name="ObjectRemoved:Delete",
        event_time=canonical_time(datetime.now(UTC)),
        region="us-east-1",
        size=None,
        etag=None,
        version_id=None,
        sequencer=f"{7:016X}10",
    )
    tombstone = documents.tombstone(delete, datetime.now(UTC))

    def stop_in_the_final_catch_up(progress: MigrationProgress) -> None:
        if progress.phase is Phase.SWAP:  # the alias is still on v1: only v1 gets the delete
            store.write([ImageWrite(tombstone["image_id"], tombstone)])
        elif progress.phase is Phase.FINAL:
            raise Stopped

    with pytest.raises(Stopped):
        IndexMigration(search_client, index_alias, stop_in_the_final_catch_up).run()

    v1, v2 = mapping.versioned_index(index_alias, 1), mapping.versioned_index(index_alias)
    assert set(search_client.indices.get_alias(name=index_alias)) == {v2}
    assert stored_states(search_client, v2, [deleted])[deleted].deleted is False
    with pytest.raises(MigrationError, match=f"final catch-up from {v1} has not finished"):
        IndexMigration(search_client, index_alias).delete_old()

    result = IndexMigration(search_client, index_alias).run()

    assert (result.sources, result.copied, result.caught_up, result.stale) == ((v1,), 0, 1, 49)
    assert stored_states(search_client, v2, [deleted])[deleted].deleted is True
    assert IndexMigration(search_client, index_alias).run().migrated is False
    assert IndexMigration(search_client, index_alias).delete_old() == [v1]


def test_delete_old_refuses_while_the_alias_still_points_at_the_old_index(
    search_client, index_alias
):
    create_version_1_index(search_client, index_alias)

    with pytest.raises(MigrationError, match="run migrate first; nothing was deleted"):
        IndexMigration(search_client, index_alias).delete_old()

    assert search_client.indices.exists(index=mapping.versioned_index(index_alias, 1))


def test_an_alias_on_the_current_version_needs_no_migration(search_client, index_alias):
    ElasticsearchStore(search_client, index_alias, replicas=0).ensure_ready()

    result = IndexMigration(search_client, index_alias).run()

    assert result.summary() == (
        f"nothing to do: {index_alias} already points at {index_alias}-v{mapping.MAPPING_VERSION}"
    )
    assert IndexMigration(search_client, index_alias).delete_old() == []
