"""A synthetic, realistic image collection for the search benchmark (deterministic, seeded).

* ~3000 label names: the local labeler's 1000 ImageNet classes and its coarse labels (with their
  real parents, aliases and categories from localdev/rekognition/data/taxonomy.json), plus
  compound labels ("Vintage Vehicle") whose parents are their noun and its parents.
* Popularity is Zipf-distributed over the names (s = 1): coarse labels such as Animal or Plant
  are the most frequent, as Person or Outdoors are in Rekognition's output.
* 5-20 distinct labels per image, confidence uniform in 50-100; detected text on 10% of images.

Documents are built by ``chalicelib.documents.image_document``, exactly as the handler builds
them, so they carry every field the mapping and the queries use.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from chalicelib import documents
from chalicelib.events import CREATED, ObjectEvent
from chalicelib.store import mapping
from chalicelib.timestamps import canonical_time
from chalicelib.vocabulary import ImageAnalysis

TAXONOMY = (
    Path(__file__).resolve().parent.parent / "localdev" / "rekognition" / "data" / "taxonomy.json"
)
VOCABULARY_SIZE = 3000
ZIPF_EXPONENT = 1.0
MIN_LABELS, MAX_LABELS = 5, 20
TEXT_SHARE = 0.10
BUCKET = "bench-synthetic"
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
SECONDS_BETWEEN_IMAGES = 30  # 1M images span about a year

ADJECTIVES = [
    *("Vintage", "Modern", "Wild", "Urban", "Rural", "Small", "Large", "Red", "Blue", "Green"),
    *("Black", "White", "Golden", "Wooden", "Metal", "Plastic", "Antique", "Tropical", "Arctic"),
    *("Desert", "Night", "Sunny", "Rainy", "Snowy", "Busy", "Empty", "Young", "Old", "Baby"),
    *("Giant", "Miniature", "Toy", "Street", "Indoor", "Outdoor", "Aerial", "Underwater"),
    *("Frozen", "Burning", "Broken"),
]
PHRASES = (
    "OPEN DAILY",
    "EXIT",
    "NO PARKING",
    "SALE 50% OFF",
    "espresso bar",
    "Welcome",
    "STOP",
    "Platform 9",
    "Fresh bread",
    "Main Street",
    "Happy Birthday",
    "Do not enter",
)


@dataclass(frozen=True)
class LabelSpec:
    name: str
    parents: tuple[str, ...]
    aliases: tuple[str, ...]
    categories: tuple[str, ...]


@lru_cache(maxsize=4)
def vocabulary(size: int = VOCABULARY_SIZE, seed: int = 7) -> tuple[LabelSpec, ...]:
    """Label names in popularity order (rank 1 first)."""
    data = json.loads(TAXONOMY.read_text())
    coarse = [
        LabelSpec(name, tuple(c["parents"]), tuple(c["aliases"]), tuple(c["categories"]))
        for name, c in data["coarse"].items()
    ]
    classes = [
        LabelSpec(c["name"], tuple(c["parents"]), tuple(c["aliases"]), tuple(c["categories"]))
        for c in data["classes"]
    ]
    compounds = [
        LabelSpec(f"{adjective} {noun.name}", (noun.name, *noun.parents), (), noun.categories)
        for noun in coarse
        for adjective in ADJECTIVES
    ]
    rng = random.Random(seed)
    rest = classes + compounds
    rng.shuffle(rest)
    seen: set[str] = set()
    ordered = []
    for spec in coarse + rest:  # generic labels are the most frequent
        if spec.name.lower() not in seen:
            seen.add(spec.name.lower())
            ordered.append(spec)
    return tuple(ordered[:size])


@lru_cache(maxsize=4)
def _cumulative_weights(size: int) -> tuple[float, ...]:
    total, cumulative = 0.0, []
    for rank in range(1, size + 1):
        total += 1.0 / rank**ZIPF_EXPONENT
        cumulative.append(total)
    return tuple(cumulative)


def label_frequency(rank: int, size: int = VOCABULARY_SIZE) -> float:
    """Probability that one draw picks the label of this rank (1-based)."""
    weights = _cumulative_weights(size)
    return (1.0 / rank**ZIPF_EXPONENT) / weights[-1]


def _labels(rng: random.Random, specs: tuple[LabelSpec, ...]) -> list[dict]:
    count = rng.randint(MIN_LABELS, MAX_LABELS)
    weights = _cumulative_weights(len(specs))
    chosen: dict[int, None] = {}
    for _ in range(8):  # bounded: distinct draws from a skewed distribution
        chosen.update(dict.fromkeys(rng.choices(_ranks(len(specs)), cum_weights=weights, k=count)))
        if len(chosen) >= count:
            break
    labels = []
    for rank in list(chosen)[:count]:
        spec = specs[rank]
        labels.append(
            {
                "name": spec.name,
                "confidence": round(50.0 + 50.0 * rng.random(), 3),
                "parents": list(spec.parents),
                "aliases": list(spec.aliases),
                "categories": list(spec.categories),
                "instances": [],
            }
        )
    labels.sort(key=lambda label: -label["confidence"])
    return labels


@lru_cache(maxsize=4)
def _ranks(size: int) -> tuple[int, ...]:
    return tuple(range(size))


def key_of(number: int) -> str:
    return f"synthetic/{number // 1000:04d}/{number:07d}.jpg"


def image_document(number: int, seed: int = 1) -> dict:
    """The document of image ``number``: the same for the same number and seed."""
    rng = random.Random(seed * 1_000_003 + number)
    specs = vocabulary()
    indexed_at = BASE_TIME + timedelta(seconds=number * SECONDS_BETWEEN_IMAGES)
    event = ObjectEvent(
        action=CREATED,
        bucket=BUCKET,
        key=key_of(number),
        event_name="ObjectCreated:Put",
        event_time=canonical_time(indexed_at - timedelta(seconds=1)),
        region="us-east-1",
        size=rng.randint(20_000, 5_000_000),
        etag=f"{number:032x}",
        version_id=None,
        sequencer=f"{number:016X}",
    )
    text = None
    if rng.random() < TEXT_SHARE:
        text = [
            {"text": rng.choice(PHRASES), "confidence": round(rng.uniform(80.0, 100.0), 3)}
            for _ in range(rng.randint(1, 3))
        ]
    analysis = ImageAnalysis(labels=_labels(rng, specs), label_model_version="3.0", text=text)
    return documents.image_document(event, analysis, "us-east-1", indexed_at)


def bulk_body(index: str, first: int, count: int, seed: int = 1) -> str:
    """An ``_bulk`` body (ndjson) indexing images first .. first + count - 1, as the store
    writes them (with the mapping's derived fields)."""
    lines = []
    for number in range(first, first + count):
        document = mapping.index_document(image_document(number, seed))
        lines.append(json.dumps({"index": {"_index": index, "_id": document["image_id"]}}))
        lines.append(json.dumps(document, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines) + "\n"
