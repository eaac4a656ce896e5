"""The README's local steps as a newcomer takes them, through `make run` itself: start with a
setting of their own, add their own images with the printed AWS CLI line and with the CLI (a
nested folder with duplicate names, junk beside the photos), run every `curl` example of the
README's local sections, hit an error, stop with Ctrl-C's signal."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from localdev.stack import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
LOCAL_SECTIONS = ("## Running locally", "## Use your own images")
READY = "each image's outcome is printed here as it happens."
# make's own failure line; "make[1]:" when the test itself runs under make (make test, CI).
MAKE_ERROR = re.compile(r"make(\[\d+\])?: \*\*\*")
SAMPLES = PROJECT_ROOT / "samples"


def readme_sections(titles=LOCAL_SECTIONS) -> str:
    text = README.read_text()
    parts = re.split(r"(?m)^(?=## )", text)
    chosen = [part for part in parts if part.startswith(titles)]
    assert len(chosen) == len(titles), "a local section of the README is missing"
    return "\n".join(chosen)


def curl_examples() -> list[tuple[str, str]]:
    """(URL, its comment) for every `curl '...'` line of the local sections."""
    return re.findall(r"curl '([^']+)'[ \t]*(?:#[ \t]*(.*))?", readme_sections())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MakeRun:
    """`make run PORT=...` in its own process group, its output collected line by line."""

    def __init__(self, port: int, env: dict[str, str]):
        self.port = port
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # make and python share a group: one signal stops both
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, condition, what: str, timeout: float = 240):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self.output):
                return
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.2)
        raise AssertionError(f"make run: no {what} within {timeout} s:\n{self.output}")

    def value(self, label: str) -> str:
        match = re.search(rf"(?m)^  {label} +(\S.*)$", self.output)
        assert match, f"make run printed no {label!r}:\n{self.output}"
        return match.group(1)

    def stop(self) -> int:
        """Ctrl-C: the terminal sends SIGINT to the whole foreground group, make and python."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        finally:
            self._reader.join(timeout=10)


@pytest.fixture(scope="module")
def newcomer_env():
    env = {name: value for name, value in os.environ.items() if name != "SEARCH_ENDPOINT"}
    env["MIN_CONFIDENCE"] = "50"  # a setting of their own: must win over the local default (30)
    return env


@pytest.fixture(scope="module")
def make_run(newcomer_env):
    running = MakeRun(free_port(), newcomer_env)
    running.wait_for(lambda out: READY in out, "own-images block")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """A newcomer's folder: the same file name in two sub-folders, and junk beside the photos."""
    root = tmp_path_factory.mktemp("newcomer")
    (root / "photos/a").mkdir(parents=True)
    (root / "photos/b/deeper").mkdir(parents=True)
    shutil.copy(SAMPLES / "coffee.jpg", root / "photos/a/photo.jpg")
    shutil.copy(SAMPLES / "chelsea-cat.jpg", root / "photos/b/photo.jpg")
    shutil.copy(SAMPLES / "cameraman.png", root / "photos/b/deeper/portrait.png")
    (root / "photos/notes.txt").write_text("not a photo")
    (root / "photos/empty.jpg").write_bytes(b"")
    (root / "photos/fake.jpg").write_text("text that calls itself a JPEG")
    return root


def api(make_run, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{make_run.port}{path}", timeout=30) as answer:
        assert answer.status == 200
        return json.load(answer)


def wait_for_total(make_run, path: str, total: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = api(make_run, path)
        if found["total"] >= total or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def printed_line(make_run, command: str) -> str:
    """The paste-ready line of `make run`'s own-images block that runs ``command``."""
    lines = [line.strip() for line in make_run.lines if f" {command} " in line]
    assert lines, f"no {command} line printed:\n{make_run.output}"
    return lines[0]


def test_1_make_run_shows_the_samples_the_settings_and_where_to_put_images(make_run):
    out = make_run.output
    assert "MIN_CONFIDENCE=50  your environment" in out
    assert re.search(r"(?m)^  indexed  chelsea-cat\.jpg  Animal, Mammal, Cat, Pet$", out)
    assert "Egyptian Cat" not in out, "39% is below the newcomer's MIN_CONFIDENCE=50"
    assert "5 images indexed" in out and '"GET /search' not in out  # no access log
    assert make_run.value("bucket") == "image-label-search-local"
    endpoint = make_run.value("S3 endpoint")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", endpoint)
    assert make_run.value("queue URL").startswith(endpoint + "/")
    assert make_run.value("credentials") == "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local"
    assert make_run.value("region") == "us-east-1"


def test_2_own_images_with_the_printed_aws_cli_line(make_run, photos, newcomer_env):
    line = printed_line(make_run, "s3 cp")
    assert line.endswith("s3 cp --recursive photos/ s3://image-label-search-local/photos/")
    if shutil.which("aws"):
        subprocess.run(line, shell=True, cwd=photos, env=newcomer_env, check=True, timeout=120)
    else:
        # No AWS CLI on this machine: what that line does (make run says so), with boto3.
        assert "no `aws` command here" in make_run.output
        words = shlex.split(line)
        settings = dict(word.split("=", 1) for word in words if re.match(r"^AWS_\w+=", word))
        s3 = boto3.client(
            "s3",
            endpoint_url=words[words.index("--endpoint-url") + 1],
            region_name=settings["AWS_DEFAULT_REGION"],
            aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"],
        )
        for path in sorted((photos / "photos").rglob("*")):
            if path.is_file():
                key = "photos/" + path.relative_to(photos / "photos").as_posix()
                s3.upload_file(str(path), "image-label-search-local", key)

    found = wait_for_total(make_run, "/search?prefix=photos/", 3)
    assert sorted(item["key"] for item in found["items"]) == [
        "photos/a/photo.jpg",
        "photos/b/deeper/portrait.png",
        "photos/b/photo.jpg",
    ]
    # Each outcome on make run's console, the junk with its reason.
    make_run.wait_for(lambda out: "photos/fake.jpg" in out, "line for photos/fake.jpg")
    out = make_run.output
    assert re.search(r"(?m)^  indexed  photos/a/photo\.jpg  Food, Drink, Coffee, Espresso$", out)
    assert "  skipped  photos/notes.txt  not a JPEG or PNG file (by extension)" in out
    assert "  skipped  photos/empty.jpg  empty object (0 bytes)" in out
    assert re.search(r"(?m)^  skipped  photos/fake\.jpg  \S", out)


def test_3_cli_upload_of_a_nested_folder_with_duplicate_names(make_run, photos, newcomer_env):
    line = printed_line(make_run, "localdev.cli upload").replace("--prefix photos", "--prefix mine")
    words = shlex.split(line)
    env = dict(newcomer_env)
    env.update(word.split("=", 1) for word in words if re.match(r"^AWS_\w+=", word))
    command = [sys.executable if w == ".venv/bin/python" else w for w in words if "=" not in w]
    result = subprocess.run(
        command, cwd=photos, env={**env, "PYTHONPATH": str(PROJECT_ROOT)}, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "uploaded 3 images to s3://image-label-search-local/mine/\n"
    skipped = [line for line in result.stderr.split("\n") if line.startswith("skipped ")]
    assert skipped == [
        "skipped photos/empty.jpg: empty file (0 bytes)",
        "skipped photos/fake.jpg: not a JPEG or PNG image (by content), whatever its name says",
        "skipped photos/notes.txt: not a JPEG or PNG file (by extension)",
    ]
    found = wait_for_total(make_run, "/search?prefix=mine/", 3)
    assert sorted(item["key"] for item in found["items"]) == [
        "mine/a/photo.jpg",
        "mine/b/deeper/portrait.png",
        "mine/b/photo.jpg",
    ]

    # The same folders given one by one would collide: refused, nothing uploaded.
    clash = [*command[: command.index("photos/")], "photos/a", "photos/b", "--bucket"]
    clash += ["image-label-search-local", "--prefix", "clash"]
    result = subprocess.run(
        clash, cwd=photos, env={**env, "PYTHONPATH": str(PROJECT_ROOT)}, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: 1 key(s) would be written twice, e.g. clash/photo.jpg")
    assert api(make_run, "/search?prefix=clash/")["total"] == 0


def test_4_every_curl_example_of_the_local_sections_works_on_the_samples(make_run):
    examples = curl_examples()
    assert len(examples) >= 8
    for url, comment in examples:
        assert url.startswith("http://127.0.0.1:8000/"), url
        path = url.removeprefix("http://127.0.0.1:8000")
        answer = api(make_run, path)
        if path.startswith("/search?"):
            keys = {item["key"] for item in answer["items"]}
            assert keys, f"{url} finds nothing on the samples"
            for named in re.findall(r"[\w-]+\.(?:jpg|png)", comment or ""):
                assert named in keys or f"photos/{named}" in keys, (url, named, keys)
        elif path.startswith("/labels?"):
            names = {label["name"] for label in answer["labels"]}
            assert {"Cat", "Coffee"} <= names, names
        else:
            assert answer == {"status": "ok"}
    # The README's typo-tolerance promise, on the sample and on the newcomer's copy of it.
    cofee = {item["key"] for item in api(make_run, "/search?q=cofee")["items"]}
    assert {"coffee.jpg", "photos/a/photo.jpg", "mine/a/photo.jpg"} <= cofee


def test_5_the_cli_search_examples_and_the_api_suffix_mistake(make_run, newcomer_env):
    base = f"http://127.0.0.1:{make_run.port}"
    command = [sys.executable, "-m", "localdev.cli", "search", "cat", "animal", "--match", "any"]
    result = subprocess.run(
        [*command, "--api", base], cwd=PROJECT_ROOT, env=newcomer_env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and "chelsea-cat.jpg" in result.stdout, result.stderr
    # The deployed stage's /api suffix copied onto the local URL: one line saying so.
    result = subprocess.run(
        [*command, "--api", base + "/api"], cwd=PROJECT_ROOT, env=newcomer_env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: search failed (404): no route for GET /api/search")


def test_6_an_error_case_a_second_make_run_on_the_same_port(make_run, newcomer_env):
    second = subprocess.run(
        ["make", "--no-print-directory", "run", f"PORT={make_run.port}"],
        cwd=PROJECT_ROOT, env=newcomer_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert second.returncode != 0
    # Only make's echo of the command: nothing started, so nothing else is printed.
    assert second.stdout.split() == [
        ".venv/bin/python",
        "-m",
        "localdev.run",
        "--port",
        str(make_run.port),
    ]
    ours = [line for line in second.stderr.splitlines() if not MAKE_ERROR.match(line)]
    assert ours == [
        f"error: port {make_run.port} is already in use (another `make run`?): pick another "
        f"with `make run PORT={make_run.port + 1}`, or PORT=0 for any free port"
    ]


def test_7_ctrl_c_stops_everything_cleanly(make_run):
    make_run.stop()
    # make reports the interrupt in its own line; the run itself stopped its services and ended.
    ours = [line for line in make_run.lines if not MAKE_ERROR.match(line)]
    assert ours[-1] == "Stopping…"
    assert "Traceback" not in make_run.output
    assert make_run.process.returncode in (0, -signal.SIGINT)
