"""The command line's errors: one line each, naming what to check, never a traceback."""

import socket

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from localdev import cli
from localdev.aws import __main__ as aws_main
from localdev.aws.dashboards import ImportFailed, import_saved_objects
from localdev.cli_errors import aws_error_line, http_error_line


class Args:
    bucket = "my-bucket"
    queue_url = "http://127.0.0.1:5000/123456789012/q"


def client_error(code, operation="PutObject"):
    return ClientError({"Error": {"Code": code, "Message": "the service's words"}}, operation)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NoCredentialsError(), "no AWS credentials found: for the local stack export"),
        (client_error("NoSuchBucket"), "bucket my-bucket does not exist: check --bucket"),
        (
            client_error("AWS.SimpleQueueService.NonExistentQueue", "SendMessageBatch"),
            "queue http://127.0.0.1:5000/123456789012/q does not exist: check --queue-url",
        ),
        (client_error("InvalidAccessKeyId"), "the credentials were refused (InvalidAccessKeyId)"),
        (client_error("AccessDenied"), "access denied to bucket my-bucket: check which identity"),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
            "cannot reach http://127.0.0.1:1: is `make run` still running?",
        ),
        (client_error("SlowDown"), "PutObject failed: SlowDown: the service's words"),
    ],
)
def test_aws_errors_name_what_to_check(error, expected):
    line = aws_error_line(error, Args())
    assert line.startswith(expected) and "\n" not in line


def test_api_gateways_missing_token_answer_says_check_the_url():
    line = http_error_line(
        "http://127.0.0.1:8000/api", 403, b'{"message": "Missing Authentication Token"}'
    )
    assert "Check --api" in line and "locally there is no /api" in line
    line = http_error_line(
        "http://x", 400, b'{"error": "min_confidence must be 0-100", "parameter": "min_confidence"}'
    )
    assert line == "search failed (400) (parameter min_confidence): min_confidence must be 0-100"


def no_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance endpoint
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # never reached


def test_upload_without_credentials_is_one_line(monkeypatch, tmp_path, capsys):
    no_credentials(monkeypatch, tmp_path)
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 a JPEG's first bytes")
    assert cli.main(["upload", str(tmp_path / "photo.jpg"), "--bucket", "b"]) == 1
    progress_bar, error, _ = capsys.readouterr().err.split(
        "\n"
    )  # the bar redraws with carriage returns
    assert progress_bar.endswith("0/1")
    assert error.startswith("error: no AWS credentials found")


def test_a_missing_path_exits_non_zero_before_any_aws_call(monkeypatch, tmp_path, capsys):
    no_credentials(monkeypatch, tmp_path)
    assert cli.main(["upload", str(tmp_path / "nope"), "--bucket", "b"]) == 1
    assert capsys.readouterr().err == f"error: no such file or folder: {tmp_path / 'nope'}\n"


def test_search_against_nothing_listening_is_one_line(capsys):
    port = closed_port()
    assert cli.main(["search", "cat", "--api", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot reach http://127.0.0.1:{port} (") and err.count("\n") == 1
    assert "check --api" in err


def test_every_option_has_help_and_the_help_keeps_the_example():
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        for action in command._actions:
            assert action.help, f"{name} {action.dest} has no help"
        assert "example against the local stack" in command.format_help()
        assert "  .venv/bin/python -m localdev.cli upload photos/" in command.format_help()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


def test_dashboards_url_with_nothing_listening_is_one_line(capsys):
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(ImportFailed) as error:
        import_saved_objects(url, "us-east-1")
    assert str(error.value).startswith(f"cannot reach Dashboards/Kibana at {url} (nothing answers)")
    assert aws_main.main(["dashboards", "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "check URL=" in err
