"""The web gallery end to end in real headless Chromium (Debian's chromium, driven by
playwright-core from npm; `make test` installs both). Screenshots go to artifacts/."""

import subprocess
from pathlib import Path

from localdev import cli
from localdev.run import SAMPLES
from tests.local.conftest import wait_for

BROWSER_TESTS = Path(__file__).resolve().parents[1] / "browser"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
COPIES = 10  # with the samples, more images than the gallery's first page of 12


def test_gallery_in_headless_chromium(local_stack, tmp_path):
    bucket = local_stack.options.bucket
    keys = cli.upload([str(SAMPLES)], bucket, s3=local_stack.s3)
    coffee = (SAMPLES / "coffee.jpg").read_bytes()
    for number in range(COPIES):
        key = f"copies/coffee-{number:02d}.jpg"
        local_stack.s3.put_object(Bucket=bucket, Key=key, Body=coffee, ContentType="image/jpeg")
        keys.append(key)
    local_stack.wait_until_indexed(keys, timeout=60)
    total = len(keys)
    wait_for(
        lambda: cli.search(local_stack.api_url, [])["total"] == total, what="all to be searchable"
    )

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "gallery.png"
    screenshot.unlink(missing_ok=True)
    result = subprocess.run(
        [
            "node",
            str(BROWSER_TESTS / "gallery.test.mjs"),
            local_stack.urls.gallery,
            str(SAMPLES / "chelsea-cat.jpg"),
            str(screenshot),
            str(total),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=BROWSER_TESTS,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert screenshot.stat().st_size > 10_000
    assert (ARTIFACTS / "gallery-boxes.png").exists()
