"""Readable label names, aliases, parents and categories for the classifier's 1000 classes,
and the coarse labels (Cat, Animal, ...) that Rekognition returns beside the specific ones.

The data comes from data/taxonomy.json, generated from WordNet by scripts/build_taxonomy.py.

Rekognition's contract for parents, which the scores keep: every ancestor of a returned label
is returned too, at least as confident as the label, and a coarse label is returned only
because one of its descendants was detected. A coarse label's confidence is therefore derived
from its *detected* classes (those at or above ``DETECTION_FLOOR``), never from the whole
vocabulary. ``PARENT_RULES`` are the ways to combine them:

- ``max``: the most confident detected descendant;
- ``noisy-or``: 1 - prod(1 - p), which assumes independent detections;
- ``sum`` (the default): the noisy-or calibrated for the classifier, whose classes are
  mutually exclusive (one softmax): then P(some cat) is exactly the sum of the cat classes'
  probabilities, here over the detected ones only, so the long tail cannot add up.

``python -m bench.labeler`` measures the three on the samples ("coarse label confidence").
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TAXONOMY_PATH = Path(__file__).resolve().parent / "data" / "taxonomy.json"
# A class counts as detected, and may be returned or raise its parents, from this confidence
# (0-100) on. Below it the softmax's long tail is noise: 398 animal classes at a few tenths of
# a percent each would otherwise make Animal the top label of a photo of a plant.
DETECTION_FLOOR = 1.0
PARENT_RULES = ("sum", "noisy-or", "max")
DEFAULT_PARENT_RULE = "sum"


@dataclass(frozen=True)
class LabelInfo:
    name: str
    aliases: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()  # every ancestor, the nearest first
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoredLabel:
    info: LabelInfo
    confidence: float  # 0-100, as Rekognition reports it


def rank_key(label: ScoredLabel) -> tuple:
    """Most confident first; at equal confidence an ancestor before its descendants, so that
    MaxLabels never keeps a label and cuts its equally confident parent."""
    return (-label.confidence, len(label.info.parents), label.info.name)


class Taxonomy:
    def __init__(self, path: Path = TAXONOMY_PATH, parent_rule: str = DEFAULT_PARENT_RULE):
        if parent_rule not in PARENT_RULES:
            raise ValueError(f"parent_rule must be one of {PARENT_RULES}")
        self.parent_rule = parent_rule
        data = json.loads(path.read_text())
        self.classes = [
            LabelInfo(c["name"], tuple(c["aliases"]), tuple(c["parents"]), tuple(c["categories"]))
            for c in data["classes"]
        ]
        self.coarse = [
            LabelInfo(name, tuple(c["aliases"]), tuple(c["parents"]), tuple(c["categories"]))
            for name, c in data["coarse"].items()
        ]
        # membership[i, j] is True when class j has coarse label i among its ancestors.
        self._membership = np.array(
            [[info.name in c.parents for c in self.classes] for info in self.coarse], dtype=bool
        )

    def score(self, probabilities: np.ndarray) -> list[ScoredLabel]:
        """The detected classes and their coarse ancestors with their confidences, ranked."""
        confidences = probabilities * 100.0
        detected = np.flatnonzero(confidences >= DETECTION_FLOOR)
        members = self._membership[:, detected]  # coarse x detected classes
        values = confidences[detected]
        best = np.where(members, values, 0.0).max(axis=1, initial=0.0)
        if self.parent_rule == "max":
            coarse = best
        elif self.parent_rule == "sum":
            coarse = members.astype(np.float64) @ values
        else:  # noisy-or, in log space
            p = np.clip(values / 100.0, 0.0, 1.0 - 1e-12)
            coarse = (1.0 - np.exp(members.astype(np.float64) @ np.log1p(-p))) * 100.0
        # Never below the most confident member (float rounding), never above 100.
        coarse = np.clip(np.maximum(coarse, best), 0.0, 100.0)
        scored = [ScoredLabel(self.classes[i], float(confidences[i])) for i in detected]
        reached = members.any(axis=1)
        scored += [
            ScoredLabel(info, float(value))
            for info, value, has_member in zip(self.coarse, coarse, reached, strict=True)
            if has_member
        ]
        return sorted(scored, key=rank_key)
