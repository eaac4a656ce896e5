"""The local labeler's taxonomy (localdev/rekognition/data/taxonomy.json) and its scores keep
Rekognition's contract: parents closed, names unambiguous, every label in a category, and a
parent's confidence derived from its detected descendants only."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from localdev.rekognition.taxonomy import DETECTION_FLOOR, TAXONOMY_PATH, Taxonomy, rank_key

ROOT = Path(__file__).resolve().parents[2]
WORDNET = Path("/usr/share/wordnet")
DATA = json.loads(TAXONOMY_PATH.read_text())
CLASSES = {c["name"]: c for c in DATA["classes"]}
COARSE = DATA["coarse"]
PARENTS = {name: entry["parents"] for name, entry in [*CLASSES.items(), *COARSE.items()]}
LABELS = {**CLASSES, **COARSE}
# Rekognition's documented label categories (docs.aws.amazon.com/rekognition/latest/dg/labels.html;
# the last two are shown only in the developer guide's examples).
REKOGNITION_CATEGORIES = {
    "Animals and Pets", "Apparel and Accessories", "Buildings and Architecture",
    "Everyday Objects", "Food and Beverage", "Hobbies and Interests", "Home and Indoors",
    "Kitchen and Dining", "Nature and Outdoors", "Person Description", "Plants and Flowers",
    "Sports", "Technology and Computing", "Tools and Machinery", "Toys and Gaming",
    "Vehicles and Automotive", "Weapons and Military",
    "Colors and Visual Composition", "Popular Landmark",
}  # fmt: skip

# The labels of the Rekognition developer guide's examples (data/rekognition_examples.json), by
# whether the taxonomy has them: the ImageNet class or coarse label that is each one ...
EXAMPLES = json.loads((TAXONOMY_PATH.parent / "rekognition_examples.json").read_text())
WITH_COUNTERPART = {
    "Mobile Phone": "class n02992529 (WordNet: cellular telephone)",
    "Kangaroo": "class n01877812 (WordNet: wallaby; Rekognition's alias Wallaby)",
    "Cup": "class n07930864",
    "Tiger": "class n02129604",
    "Sports Car": "class n04285008",
    **{name: "coarse" for name in ("Car", "Vehicle", "Transportation", "Bicycle", "Cat", "Dog")},
    **{name: "coarse" for name in ("Electronics", "Building", "Vegetable", "Squash")},
}
# ... and those without one, which no ImageNet class is.
NO_COUNTERPART = {
    **dict.fromkeys(["Person", "Human"], "the endpoint's face detector adds Person (and Human)"),
    "Automobile": "a label of model 2.0 only; since 3.0 Car's alias, which the taxonomy has",
    **dict.fromkeys(
        ["Urban", "City", "Downtown", "Neighborhood", "Town", "Street", "Housing", "Metropolis",
         "Parking", "Parking Lot", "Intersection", "Road", "Boardwalk", "Path", "Pavement",
         "Sidewalk", "Walkway", "Freeway", "High Rise", "Beach", "Outdoors", "Sport", "Running",
         "Speech", "People", "Pedestrian"],
        "a scene, action or concept: ImageNet classes are objects",
    ),
    **dict.fromkeys(
        ["Leaf", "Sleeve", "Palm Tree", "Pumpkin", "Skateboard", "Coupe", "Sedan", "Suv",
         "Office Building", "Apartment Building", "Bumper"],
        "no ILSVRC-2012 class (Jack-o'-Lantern is a lantern, not Pumpkin)",
    ),
}  # fmt: skip


def test_names_are_unique():
    assert len(CLASSES) == len(DATA["classes"]) == 1000
    assert not set(CLASSES) & set(COARSE)


def test_parents_are_closed_and_every_parent_is_a_coarse_label():
    for name, parents in PARENTS.items():
        assert set(parents) <= set(COARSE), name
        for parent in parents:
            assert set(COARSE[parent]["parents"]) <= set(parents), (name, parent)
        assert name not in parents


def test_no_alias_is_another_labels_name():
    taken = {name.lower() for name in [*CLASSES, *COARSE, "Person", "Human", "Face", "Head"]}
    for name, entry in LABELS.items():
        for alias in entry["aliases"]:
            assert alias.lower() not in taken, (name, alias)


def test_every_label_has_a_documented_category():
    for name, entry in [*CLASSES.items(), *COARSE.items()]:
        assert entry["categories"], name
        assert set(entry["categories"]) <= REKOGNITION_CATEGORIES, name
    assert all(c["category_source"] for c in DATA["classes"])


def test_every_coarse_label_has_a_member_class():
    members = {parent for c in DATA["classes"] for parent in c["parents"]}
    assert set(COARSE) == members
    assert "Tree" not in COARSE


def test_known_corrections():
    assert COARSE["Ball"]["parents"] == ["Sports Equipment"]
    assert "Toy" not in CLASSES["Soccer Ball"]["parents"]
    for shoe in ("Sandal", "Running Shoe", "Cowboy Boot", "Loafer", "Clog"):
        assert CLASSES[shoe]["parents"] == ["Footwear", "Clothing"], shoe
    for rocket in ("Missile", "Projectile"):
        assert CLASSES[rocket]["parents"] == ["Rocket", "Vehicle", "Transportation"], rocket
    assert "Harp" not in CLASSES["Harmonica"]["aliases"]
    assert "Crane" not in CLASSES["Crane Bird"]["aliases"]


def test_coarse_labels_sit_where_rekognitions_published_example_puts_them():
    # aws-cli's detect-labels example: Car [Vehicle, Transportation], Vehicle [Transportation],
    # Transportation and Building without parents.
    assert COARSE["Car"]["parents"] == ["Vehicle", "Transportation"]
    assert COARSE["Vehicle"]["parents"] == ["Transportation"]
    assert COARSE["Transportation"]["parents"] == COARSE["Building"]["parents"] == []
    for name in ("Car", "Vehicle", "Transportation", "Building"):
        assert COARSE[name]["source"].startswith("aws-cli "), name
    for name, entry in LABELS.items():
        assert entry["source"] == "wordnet" or name in WITH_COUNTERPART, name


def test_the_examples_name_their_doc_file_commit_and_licence():
    commit = EXAMPLES["source"]["commit"]
    assert len(commit) == 40 and "CC-BY-SA-4.0" in EXAMPLES["source"]["license"]
    licence = (TAXONOMY_PATH.parent / "LICENSE-rekognition-examples.txt").read_text()
    assert commit in licence and "Attribution-ShareAlike 4.0" in licence
    for fact in [*EXAMPLES["facts"], *EXAMPLES["categories"]]:
        assert fact["doc"].startswith("doc_source/") and fact["doc"].endswith(".md"), fact
        assert fact["commit"] == commit, fact


def test_every_documented_label_is_listed_with_or_without_a_counterpart():
    documented = {fact["label"] for fact in EXAMPLES["facts"]}
    assert documented == set(WITH_COUNTERPART) | set(NO_COUNTERPART)
    assert not set(WITH_COUNTERPART) & set(NO_COUNTERPART)
    assert set(WITH_COUNTERPART) <= set(LABELS)
    assert not set(NO_COUNTERPART) & set(LABELS)


def closed(parents: list[str]) -> set[str]:
    return set(parents).union(*(COARSE[parent]["parents"] for parent in parents))


@pytest.mark.parametrize(
    "fact",
    [fact for fact in EXAMPLES["facts"] if fact["label"] in WITH_COUNTERPART],
    ids=lambda fact: f"{fact['label']}@{fact['doc'].removeprefix('doc_source/')}",
)
def test_every_documented_fact_with_a_counterpart_holds(fact):
    entry = LABELS[fact["label"]]  # Rekognition's name is the label's name

    if "parents" in fact:  # as shown, with their own parents (Rekognition returns every ancestor)
        assert set(entry["parents"]) == closed(fact["parents"])
    if "aliases" in fact:
        assert set(fact["aliases"]) <= set(entry["aliases"])
        assert entry["aliases"][: len(fact["aliases"])] == fact["aliases"]  # Rekognition's first
    if "categories" in fact:
        assert entry["categories"] == sorted(fact["categories"])
    assert fact["doc"] in entry["source"] and fact["commit"][:12] in entry["source"]


def test_documented_categories_are_rekognitions():
    assert {c["category"] for c in EXAMPLES["categories"]} <= REKOGNITION_CATEGORIES


def test_the_build_script_reproduces_the_committed_json(tmp_path):
    # WordNet comes from Debian's wordnet-base, which `make test` installs (never a skip).
    assert (WORDNET / "data.noun").exists(), "WordNet 3.0 missing: apt-get install wordnet-base"
    output = tmp_path / "taxonomy.json"
    subprocess.run(
        [sys.executable, "scripts/build_taxonomy.py", "--output", str(output)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert output.read_text() == TAXONOMY_PATH.read_text()


def probabilities(**named: float) -> np.ndarray:
    """A softmax output with the named classes' probabilities, the rest spread evenly."""
    taxonomy = Taxonomy()
    index = {info.name: i for i, info in enumerate(taxonomy.classes)}
    values = np.zeros(len(index))
    for name, value in named.items():
        values[index[name]] = value
    rest = [i for i in range(len(index)) if values[i] == 0]
    values[rest] = (1 - values.sum()) / len(rest)
    return values


@pytest.mark.parametrize("rule", ["sum", "noisy-or", "max"])
def test_the_long_tail_does_not_raise_a_broad_parent(rule):
    # A daisy at 50 %, the other half spread over 999 classes (0.05 % each, 398 animals):
    # the old sum over the whole vocabulary made Animal 20 % here.
    scored = Taxonomy(parent_rule=rule).score(probabilities(Daisy=0.5))

    ranked = [label.info.name for label in scored]
    assert ranked == ["Plant", "Flower", "Daisy"]
    assert "Animal" not in ranked


@pytest.mark.parametrize("rule", ["sum", "noisy-or", "max"])
def test_parents_are_returned_at_least_as_confident_as_their_children(rule):
    scored = Taxonomy(parent_rule=rule).score(
        probabilities(**{"Egyptian Cat": 0.4, "Tiger Cat": 0.35, "Tabby Cat": 0.2})
    )

    confidence = {label.info.name: label.confidence for label in scored}
    for label in scored:
        assert label.confidence >= DETECTION_FLOOR
        for parent in label.info.parents:
            assert confidence[parent] >= label.confidence
    expected = {"sum": 95.0, "noisy-or": 100 * (1 - 0.6 * 0.65 * 0.8), "max": 40.0}[rule]
    assert confidence["Cat"] == pytest.approx(expected)
    assert scored == sorted(scored, key=rank_key)


def test_coarse_labels_carry_rekognitions_aliases():
    # Model 3.0 returns Automobile as Car's alias, not as a label of its own (the developer
    # guide's examples): the endpoint must say so, so that label=automobile finds the car.
    scored = Taxonomy().score(probabilities(**{"Sports Car": 0.9}))

    aliases = {label.info.name: label.info.aliases for label in scored}
    assert aliases["Car"] == ("Automobile",)
