"""The benchmark helpers: statistics, the table, the ideal throughput, the synthetic corpus,
the throttling proxy's attempt header and the poison bodies' sizes."""

import json
import math

from bench import corpus, ingest, report
from bench.chaos import harness, scenarios


def test_percentile_interpolates_and_handles_edges():
    values = [10, 20, 30, 40, 50]
    assert report.percentile(values, 0.5) == 30
    assert report.percentile(values, 0.0) == 10
    assert report.percentile(values, 1.0) == 50
    assert report.percentile(values, 0.99) == 49.6
    assert math.isnan(report.percentile([], 0.5))


def test_ratio_is_nan_without_a_baseline():
    assert report.ratio(10, 4) == 2.5
    assert math.isnan(report.ratio(1, 0))
    assert math.isnan(report.ratio(1, math.nan))


def test_table_aligns_numbers_right_and_text_left():
    text = report.table([{"name": "a", "value": 1.5}, {"name": "longer", "value": 1234.0}])
    header, rule, first, second = text.splitlines()
    assert header.startswith("name") and set(rule) == {"-"}
    assert first.endswith("1.50") and second.endswith("1,234")
    assert first.startswith("a ")


def test_report_writes_json_with_goals_and_no_nan(tmp_path, capsys):
    result = report.Report(
        "unit",
        machine={"cores": 2, "cpu_model": "x", "ram_gib": 1, "python": "3.11", "os": "Linux"},
    )
    result.add_rows("rows", [{"a": 1, "b": math.nan}])
    result.goal("g", "<= 1", "2", False, why="the second run was slower")
    result.goal("h", "<= 1", "1", True, why="never shown: met")
    path = result.write(tmp_path)
    saved = json.loads(path.read_text())
    assert saved["sections"]["rows"] == [{"a": 1, "b": None}]
    assert saved["goals"][0]["met"] is False
    assert saved["goals"][0]["why"] == "the second run was slower"
    out = capsys.readouterr().out
    # Every NO is explained on a line of its own; a goal that is met needs no explanation.
    assert "NO  g: the second run was slower" in out.splitlines()
    assert "never shown" not in out


def test_ideal_rate_counts_rounds_of_the_pool():
    assert ingest.ideal_rate(1, 8, 0.2) == 5.0
    assert ingest.ideal_rate(10, 8, 0.2) == 25.0  # two rounds: 5x the one-at-a-time rate
    assert ingest.ideal_rate(10, 10, 0.2) == 50.0
    assert math.isclose(ingest.ideal_rate(100, 8, 0.2), 100 / 2.6)


def test_sqs_event_carries_one_s3_record_per_key():
    event = ingest.sqs_event(["a.jpg", "b c.jpg"])
    bodies = [json.loads(record["body"]) for record in event["Records"]]
    assert [b["Records"][0]["s3"]["object"]["key"] for b in bodies] == ["a.jpg", "b c.jpg"]
    assert len({record["messageId"] for record in event["Records"]}) == 2


def test_corpus_is_deterministic_and_realistic():
    assert len(corpus.vocabulary()) == corpus.VOCABULARY_SIZE
    first, again = corpus.image_document(42), corpus.image_document(42)
    assert first == again
    documents = [corpus.image_document(n) for n in range(300)]
    counts = [len(doc["labels"]) for doc in documents]
    assert min(counts) >= corpus.MIN_LABELS and max(counts) <= corpus.MAX_LABELS
    assert all(50 <= label["confidence"] <= 100 for doc in documents for label in doc["labels"])
    assert 0 < sum(1 for doc in documents if doc["text"]) < 100
    # Zipf: the most popular label is in most images, a label of rank 1000 in few.
    top = corpus.vocabulary()[0].name
    assert sum(top in doc["label_names"] for doc in documents) > 150


def test_bulk_body_is_ndjson_with_ids():
    lines = corpus.bulk_body("index-v1", 0, 3).splitlines()
    assert len(lines) == 6
    action, document = json.loads(lines[0]), json.loads(lines[1])
    assert action["index"]["_id"] == document["image_id"]


def test_attempt_header_parsing():
    assert harness._attempt("attempt=3; max=6") == 3
    assert harness._attempt("") == 1


def test_padded_bodies_are_exactly_the_sqs_limit():
    body = scenarios._padded_to(scenarios.SQS_MAX_BYTES, lambda pad: json.dumps({"junk": pad}))
    assert len(body.encode()) == scenarios.SQS_MAX_BYTES
