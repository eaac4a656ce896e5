"""The README's layout section names every module of chalicelib/ and every entry of localdev/,
bench/ and tests/, and names nothing that is gone, so a newcomer's map matches the tree."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Directories whose every entry (module or package) the section names; chalicelib/ to its leaves.
LISTED_ENTRIES = ("localdev", "bench", "tests")
NOT_ENTRIES = {"__init__.py", "__pycache__"}


def layout_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^### Layout\n(.*?)(?=^#|\Z)", readme, re.DOTALL | re.MULTILINE)
    assert match, "README.md has no '### Layout' section"
    return match.group(1)


def named_paths() -> set[str]:
    return {
        token.rstrip("/")
        for token in re.findall(r"`([^`\s]+)`", layout_section())
        if re.match(r"(app\.py|(chalicelib|localdev|bench|tests)(/|$))", token)
    }


def tracked_entries() -> list[str]:
    entries = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "chalicelib").rglob("*"))
        if path.is_file() and path.name not in NOT_ENTRIES and "__pycache__" not in path.parts
    ]
    for directory in LISTED_ENTRIES:
        entries += [
            f"{directory}/{path.name}"
            for path in sorted((ROOT / directory).iterdir())
            if path.name not in NOT_ENTRIES and not path.name.startswith(".")
        ]
    return ["app.py", *entries]


@pytest.mark.parametrize("entry", tracked_entries())
def test_every_entry_of_the_tree_is_named(entry):
    assert entry in named_paths(), f"README.md's layout section does not name `{entry}`"


def test_every_named_path_exists():
    missing = sorted(path for path in named_paths() if not (ROOT / path).exists())
    assert not missing, f"README.md's layout section names paths that are gone: {missing}"
