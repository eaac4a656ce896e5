"""Readable label names, aliases, parents and categories for the classifier's 1000 classes,
and the coarse labels (Cat, Animal, ...) that Rekognition returns beside the specific ones.

The data comes from data/taxonomy.json, generated from WordNet by scripts/build_taxonomy.py.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TAXONOMY_PATH = Path(__file__).resolve().parent / "data" / "taxonomy.json"


@dataclass(frozen=True)
class LabelInfo:
    name: str
    aliases: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoredLabel:
    info: LabelInfo
    confidence: float  # 0-100, as Rekognition reports it


class Taxonomy:
    def __init__(self, path: Path = TAXONOMY_PATH):
        data = json.loads(path.read_text())
        self.classes = [
            LabelInfo(c["name"], tuple(c["aliases"]), tuple(c["parents"]), tuple(c["categories"]))
            for c in data["classes"]
        ]
        self.coarse = [
            LabelInfo(name, (), tuple(c["parents"]), tuple(c["categories"]))
            for name, c in data["coarse"].items()
        ]
        # membership[i, j] is 1 when class j has coarse label i among its parents.
        self._membership = np.array(
            [[info.name in c.parents for c in self.classes] for info in self.coarse],
            dtype=np.float64,
        )

    def score(self, probabilities: np.ndarray) -> list[ScoredLabel]:
        """Every class and coarse label with its confidence, most confident first.

        A coarse label is as likely as all of its classes together: "Cat" is the summed
        probability of tabby, tiger cat, Egyptian cat, ..., so it can be confident when the
        classifier cannot tell which cat it sees."""
        class_confidences = probabilities * 100.0
        coarse_confidences = np.minimum(self._membership @ class_confidences, 100.0)
        scored = [
            *map(ScoredLabel, self.classes, class_confidences.tolist()),
            *map(ScoredLabel, self.coarse, coarse_confidences.tolist()),
        ]
        return sorted(scored, key=lambda label: (-label.confidence, label.info.name))
