"""Which local files an upload takes, under which keys, and which it leaves out and why.

Decided before anything is uploaded, so that a mistake (a missing path, two files that would
get the same key, nothing to upload) costs no partial upload. The skip reasons mirror what the
function itself would skip (chalicelib/eligibility.py), and add one it cannot see from an
event: a file whose content is neither JPEG nor PNG, whatever its name says.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.eligibility import SUPPORTED_EXTENSIONS
from chalicelib.settings import REKOGNITION_MAX_S3_OBJECT_BYTES
from localdev.cli_errors import CliError

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Upload:
    path: Path
    key: str


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


@dataclass
class UploadPlan:
    uploads: list[Upload] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def collisions(self) -> dict[str, list[Path]]:
        by_key: dict[str, list[Path]] = defaultdict(list)
        for item in self.uploads:
            by_key[item.key].append(item.path)
        return {key: paths for key, paths in by_key.items() if len(paths) > 1}

    def check(self) -> None:
        """Raise CliError (one line) when this plan must not run."""
        if self.missing:
            raise CliError(f"no such file or folder: {', '.join(self.missing)}")
        clashes = self.collisions()
        if clashes:
            key, paths = next(iter(clashes.items()))
            raise CliError(
                f"{len(clashes)} key(s) would be written twice, e.g. {key} from "
                f"{' and '.join(map(str, paths))}: upload their common folder instead, or each "
                "folder with its own --prefix; nothing was uploaded"
            )
        if not self.uploads:
            raise CliError(
                "no JPEG or PNG images to upload"
                + (f" ({len(self.skipped)} file(s) skipped, listed above)" if self.skipped else "")
            )


def normalized_prefix(prefix: str) -> str:
    """``2026`` and ``2026/`` both become ``2026/``; a leading ``/`` would start an empty
    folder in S3's console, so it goes."""
    prefix = prefix.strip().strip("/")
    return f"{prefix}/" if prefix else ""


def skip_reason(path: Path) -> str | None:
    if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
        return "not a JPEG or PNG file (by extension)"
    size = path.stat().st_size
    if size == 0:
        return "empty file (0 bytes)"
    if size > REKOGNITION_MAX_S3_OBJECT_BYTES:
        return f"larger than Rekognition's {REKOGNITION_MAX_S3_OBJECT_BYTES} byte S3 object limit"
    with path.open("rb") as file:
        head = file.read(len(PNG_MAGIC))
    if not (head.startswith(JPEG_MAGIC) or head.startswith(PNG_MAGIC)):
        return "not a JPEG or PNG image (by content), whatever its name says"
    return None


def plan_upload(paths: list[str], prefix: str = "") -> UploadPlan:
    plan = UploadPlan()
    prefix = normalized_prefix(prefix)
    seen: set[Path] = set()

    def consider(path: Path, relative: str) -> None:
        resolved = path.resolve()
        if resolved in seen:  # the same file named twice is one upload, not a collision
            return
        seen.add(resolved)
        reason = skip_reason(path)
        if reason:
            plan.skipped.append(Skipped(path, reason))
        else:
            plan.uploads.append(Upload(path, prefix + relative))

    for raw in paths:
        path = Path(raw)
        if not path.exists():
            plan.missing.append(raw)
        elif path.is_dir():
            for candidate in sorted(path.rglob("*")):
                if candidate.is_file():
                    consider(candidate, candidate.relative_to(path).as_posix())
        else:
            consider(path, path.name)
    return plan
