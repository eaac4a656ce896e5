"""What a newcomer gets when something is wrong locally: one line naming the fix, exit non-zero,
and the run stops as soon as it knows (never a traceback, never a two-minute wait)."""

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from localdev import cli, run
from localdev.stack import DeadLettered, LocalStack, PortInUse, StackOptions


@pytest.fixture
def busy_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_busy_port_is_one_line_naming_make_run_port(busy_port, tmp_path, capsys):
    started = time.monotonic()
    with pytest.raises(PortInUse):
        LocalStack(StackOptions(api_port=busy_port, data_dir=tmp_path)).start()
    assert time.monotonic() - started < 5, "refused before anything starts"

    assert run.main(["--once", "--port", str(busy_port)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: port {busy_port} is already in use (another `make run`?): pick another with "
        f"`make run PORT={busy_port + 1}`, or PORT=0 for any free port\n"
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MIN_CONFIDENCE", "120", "error: MIN_CONFIDENCE must be between 0 and 100, got 120.0\n"),
        ("LOG_LEVEL", "LOUD", "error: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, "),
        ("DETECT_TEXT", "true", "error: DETECT_TEXT=true needs DetectText, which the local "),
        ("UPLOAD_BUCKET", "mine", "error: UPLOAD_BUCKET=mine: the local stack sets UPLOAD_BUCKET"),
    ],
)
def test_a_bad_or_unservable_setting_is_one_line_before_anything_starts(
    monkeypatch, capsys, name, value, expected
):
    monkeypatch.setenv(name, value)
    assert run.main(["--once", "--port", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(expected) and captured.err.count("\n") == 1
    assert captured.out == ""  # nothing started, nothing printed


def test_waiting_stops_as_soon_as_a_message_is_dead_lettered(local_stack):
    local_stack.sqs.send_message(QueueUrl=local_stack.queue_url, MessageBody="not an S3 event")
    started = time.monotonic()
    with pytest.raises(DeadLettered) as error:
        local_stack.wait_until_indexed(["never.jpg"], timeout=120, stop_on_dead_letters=True)
    # Visibility 1 s and two receives in these tests: seconds, not the 120 s time-out.
    assert time.monotonic() - started < 30
    assert str(error.value).startswith("1 message(s) moved to the dead-letter queue after 2 ")


def test_the_local_api_answers_a_stage_prefix_with_a_404_naming_the_routes(local_stack, capfd):
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{local_stack.api_url}/api/search?label=cat", timeout=10)
    assert error.value.code == 404
    message = json.load(error.value)["error"]
    assert message.startswith("no route for GET /api/search: the local API serves /gallery, ")
    assert "/search" in message and "no stage prefix such as /api" in message
    with urllib.request.urlopen(f"{local_stack.api_url}/health", timeout=10) as answer:
        assert answer.status == 200
    assert "GET /health" not in capfd.readouterr().err  # no access log unless asked for


def test_a_wrong_bucket_or_queue_is_one_line_naming_the_option(local_stack, capsys):
    # Inside the stack the environment points boto3 at the local S3 and SQS, with credentials.
    photo = str(run.SAMPLES / "coffee.jpg")
    assert cli.main(["upload", photo, "--bucket", "no-such-bucket"]) == 1
    err = capsys.readouterr().err.split("\n")
    assert err[-2] == (
        "error: bucket no-such-bucket does not exist: check --bucket (`make run` prints its bucket)"
    )
    wrong_queue = local_stack.queue_url + "-typo"
    bucket = local_stack.options.bucket
    local_stack.s3.put_object(Bucket=bucket, Key="a.jpg", Body=b"\xff\xd8\xff")
    assert cli.main(["backfill", "--bucket", bucket, "--queue-url", wrong_queue]) == 1
    assert capsys.readouterr().err.split("\n")[-2] == (
        f"error: queue {wrong_queue} does not exist: check --queue-url (`make run` prints it)"
    )
