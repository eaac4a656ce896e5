"""The gallery's bounded total in real headless Chromium (as test_gallery_browser runs it).

The local API serves an embedded store holding one image more than the API counts exactly,
written straight to the store (the count is what is tested here, not the pipeline, which
test_gallery_browser drives), so the page must say "10,000+ images". Two labels an image keep
the 10,001 writes short (bench.corpus documents, a dozen labels each, took 38 s here)."""

import subprocess
import threading
from pathlib import Path

import app as app_module
from chalicelib.search.query import TOTAL_HITS_LIMIT
from chalicelib.store.base import WRITTEN
from localdev.embedded.sqlite_store import SqliteStore
from localdev.local_api import local_server
from tests.contract.fixtures import ANIMAL, Image, Label, create_write
from tests.local.test_gallery_browser import ARTIFACTS, BROWSER_TESTS

IMAGES = TOTAL_HITS_LIMIT + 1
BATCH = 500  # images per write, as bench.embedded_search loads them


def image(number: int) -> Image:
    """Dogs and cats on grass or sand: facet counts in the thousands."""
    pet = Label("Dog" if number % 2 else "Cat", 80.0 + number % 20, ANIMAL)
    ground = Label("Grass" if number % 3 else "Sand", 70.0, ("Nature",))
    return Image(f"many/{number:05d}.jpg", (pet, ground), day=number % 30)


def load(path: Path, images: int) -> None:
    store = SqliteStore(path)
    for start in range(0, images, BATCH):
        writes = [create_write(image(n)) for n in range(start, min(start + BATCH, images))]
        assert {result.status for result in store.write(writes)} == {WRITTEN}
    store.close()


def test_the_gallery_shows_a_bounded_total_with_a_plus(tmp_path, monkeypatch, serve_components):
    database = tmp_path / "images.sqlite3"
    load(database, IMAGES)
    environment = {
        "SEARCH_ENDPOINT": "",
        "SQLITE_PATH": str(database),
        "AWS_REGION": "us-east-1",
        # Presigning is a local computation; it only needs some credentials.
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "example-secret",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    serve_components()
    server = local_server(app_module.app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "gallery-total.png"
    try:
        port = server.server.server_address[1]
        result = subprocess.run(
            [
                "node",
                str(BROWSER_TESTS / "gallery_total.test.mjs"),
                f"http://127.0.0.1:{port}/gallery",
                f"{TOTAL_HITS_LIMIT:,}+ images",
                str(screenshot),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=BROWSER_TESTS,
        )
    finally:
        server.shutdown()
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert screenshot.stat().st_size > 10_000
