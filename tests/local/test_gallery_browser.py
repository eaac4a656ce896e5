"""The web gallery end to end in real headless Chromium (Debian's chromium, driven by
playwright-core from npm; `make test` installs both). Screenshots go to artifacts/.

The page is loaded twice: straight from the local API, then through the signing proxy
(localdev.proxy) in front of a SigV4-verifying stand-in for API Gateway, as `make gallery`
serves a deployed stage."""

import subprocess
from pathlib import Path

from localdev import cli
from localdev.proxy import serve
from localdev.run import SAMPLES
from tests.local.conftest import wait_for
from tests.local.test_signing_proxy import VerifyingUpstream, iam_signer

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
    result = run_browser(local_stack.urls.gallery, screenshot, total)
    assert result.returncode == 0, result.stdout + result.stderr
    assert screenshot.stat().st_size > 10_000
    assert (ARTIFACTS / "gallery-boxes.png").exists()

    # Once more through the proxy (the first run's upload is one more image now).
    screenshot = ARTIFACTS / "gallery-proxy.png"
    screenshot.unlink(missing_ok=True)
    with (
        VerifyingUpstream(backend=local_stack.api_url) as upstream,
        serve(upstream.stage_url, iam_signer()) as proxy,
    ):
        result = run_browser(f"{proxy.url}/gallery", screenshot, total + 1, "short")
    assert result.returncode == 0, result.stdout + result.stderr
    assert screenshot.stat().st_size > 10_000
    problems = [(seen.target, seen.problem) for seen in upstream.seen if seen.problem]
    assert problems == [], problems
    paths = {seen.target.split("?")[0] for seen in upstream.seen}
    assert {"/api/gallery", "/api/search", "/api/labels", "/api/uploads"} <= paths
    assert any(path.startswith("/api/images/") for path in paths)


def run_browser(gallery_url: str, screenshot: Path, total: int, *mode: str):
    result = subprocess.run(
        [
            "node",
            str(BROWSER_TESTS / "gallery.test.mjs"),
            gallery_url,
            str(SAMPLES / "chelsea-cat.jpg"),
            str(screenshot),
            str(total),
            *mode,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=BROWSER_TESTS,
    )
    print(result.stdout)
    return result
