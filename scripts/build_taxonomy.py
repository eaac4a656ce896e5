"""Build localdev/rekognition/data/taxonomy.json: readable names, aliases and coarse parents
for the 1000 ImageNet classes of the local labeler, from WordNet 3.0.

Run once where WordNet is installed (Debian: ``apt-get install wordnet-base``); the JSON it
writes is committed, so the endpoint never needs WordNet at run time:

    python scripts/build_taxonomy.py [--wordnet-dir /usr/share/wordnet]

How each class finds its WordNet synset: ILSVRC-2012 classes are WordNet noun synsets, and
the classifier's class index order is the sorted list of their ids (``n`` + the 8-digit
offset), so offsets rise strictly with the index. Each torchvision class name is looked up
as a WordNet lemma; the rising-offset rule then leaves one candidate for 887 classes. For the
rest the lowest remaining offset is taken, except for the classes in ``SENSE_HINTS``, whose
sense is picked by a word of its WordNet definition. The result is checked against the
SHA-256 of the published ILSVRC-2012 synset list (``EXPECTED_WNIDS_SHA256``).

Where Rekognition's own vocabulary is known, it wins over WordNet's: the labels shown in the
Rekognition developer guide's examples (data/rekognition_examples.json, each with its doc file
and commit) give a corresponding class (``REKOGNITION_CLASSES``) or coarse label of the same
name Rekognition's name, its aliases first, its parents and its category; the entry's
``source`` names the doc files.
"""

import argparse
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "localdev/rekognition/models/imagenet-labels.json"
OUTPUT = ROOT / "localdev/rekognition/data/taxonomy.json"
# Labels, parents, aliases and categories shown in the Rekognition developer guide's examples
# (with their doc file and commit; see LICENSE-rekognition-examples.txt beside it).
EXAMPLES = ROOT / "localdev/rekognition/data/rekognition_examples.json"

# sha256 of the 1000 ILSVRC-2012 wnids, sorted, one per line with a final newline.
EXPECTED_WNIDS_SHA256 = "70002b0ff5de60a3a17a82dbfcff291931f96225ddf941ad2e182fc39e183d15"

# torchvision renamed two duplicate ImageNet names; these are (lemma, word that must be a lemma
# of the synset or of one of its hypernyms).
RENAMED = {"crane bird": ("crane", "bird"), "maillot tank suit": ("maillot", "tank_suit")}

# Classes whose name still fits several senses after the rising-offset rule, and where
# ImageNet's sense is not the lowest offset: a word of the intended sense's definition.
SENSE_HINTS = {
    "kit fox": "southwestern",
    "tabby": "mottled",
    "ox": "castrated",
    "amphibian": "motor vehicle",
    "beaker": "chemistry",
    "bib": "apron",
    "binder": "loose papers",
    "bow": "arrows",
    "brass": "memorial made of brass",
    "cannon": "fired from a tank",
    "cloak": "conceals",
    "clog": "footwear",
    "envelope": "letter",
    "file": "office furniture",
    "fountain": "jet of water arises",
    "grille": "radiator",
    "half track": "motor vehicle",
    "hook": "mechanical device",
    "jersey": "pullover",
    "library": "building",
    "monitor": "quality or content",
    "mortar": "pestle",
    "pick": "pluck",
    "pier": "bridge spans",
    "pinwheel": "numerous pins",
    "planetarium": "building",
    "pot": "plants are cultivated",
    "printer": "data processing",
    "rotisserie": "oven",
    "scale": "weighing",
    "screen": "cathode-ray",
    "slot": "gambling",
    "snorkel": "swimmer",
    "spatula": "turner",
    "spider web": "resembling",
    "spindle": "yarn",
    "switch": "electrical",
    "tank": "armored",
    "yawl": "oars",
    "volcano": "mountain",
    "groom": "ceremony",
    "corn": "animal feed",
    "buckeye": "nutlike seed",
}

# Readable coarse labels, like Rekognition's parents, each anchored on WordNet 3.0 noun synsets
# (offset, one of its lemmas: checked, so a wrong offset fails loudly). A class gets every
# coarse label whose synset is among its hypernyms. There is deliberately no Person: ImageNet
# has only a few person classes, and the endpoint takes Person from the face detector.
COARSE = {
    "Animal": [(15388, "animal")],
    "Mammal": [(1861778, "mammal")],
    "Pet": [(1317541, "domestic_animal")],
    "Cat": [(2121620, "cat")],
    "Dog": [(2084071, "dog")],
    "Primate": [(2469914, "primate")],
    "Bird": [(1503061, "bird")],
    "Fish": [(2512053, "fish")],
    "Reptile": [(1661091, "reptile")],
    "Amphibian": [(1627424, "amphibian")],
    "Invertebrate": [(1905661, "invertebrate")],
    "Insect": [(2159955, "insect")],
    "Transportation": [(3100490, "conveyance")],
    "Vehicle": [(4524313, "vehicle")],
    "Car": [(2958343, "car")],
    "Truck": [(4490091, "truck")],
    "Bus": [(2924116, "bus")],
    "Train": [(4468005, "train"), (3684823, "locomotive"), (2959942, "railcar")],
    "Bicycle": [(2834778, "bicycle")],
    "Motorcycle": [(3790512, "motorcycle")],
    "Aircraft": [(2686568, "aircraft")],
    "Rocket": [(4099429, "rocket")],
    "Spacecraft": [(4264914, "spacecraft")],
    "Boat": [(4530566, "watercraft")],
    "Food": [(21265, "food"), (7555863, "solid_food")],
    "Fruit": [(7705931, "edible_fruit")],
    "Vegetable": [(7707451, "vegetable")],
    # A Rekognition label (video-cli-commands.md: Pumpkin, Squash, Vegetable): groups ImageNet's
    # acorn, butternut and spaghetti squash and zucchini.
    "Squash": [(7715561, "squash")],
    "Dessert": [(7609840, "dessert")],
    "Drink": [(7881800, "beverage")],
    # Rekognition names a cup of espresso Coffee too; without it `q=cofee` finds no sample.
    "Coffee": [(7929519, "coffee")],
    "Building": [(2913152, "building")],
    "Bridge": [(2898711, "bridge")],
    "Shop": [(3748162, "mercantile_establishment")],
    "Plant": [(17222, "plant")],
    "Flower": [(11669921, "flower"), (11669335, "flower")],
    # No Tree: no ILSVRC-2012 class is a tree (acorn and buckeye are seeds), so it could never fire.
    "Fungus": [(12992868, "fungus")],
    "Landscape": [(9287968, "geological_formation")],
    "Clothing": [(3051540, "clothing")],
    "Footwear": [(3381126, "footwear"), (3380867, "footwear")],
    "Hat": [(3502509, "headdress")],
    "Furniture": [(3405725, "furniture")],
    "Electronics": [(3278248, "electronic_equipment"), (3277771, "electronic_device")],
    "Computer": [(3082979, "computer")],
    "Phone": [(4401088, "telephone")],
    "Camera": [(2942699, "camera")],
    "Appliance": [(3528263, "home_appliance")],
    "Cookware": [(3101986, "cookware")],
    "Jewelry": [(3597469, "jewelry")],
    "Fence": [(3327234, "fence")],
    "Clock": [(3046257, "clock")],
    "Tool": [(4451818, "tool")],
    "Weapon": [(4565375, "weapon")],
    "Musical Instrument": [(3800933, "musical_instrument")],
    "Sports Equipment": [(4285146, "sports_equipment")],
    "Ball": [(2778669, "ball"), (2779435, "ball")],
    "Toy": [(3964744, "plaything")],
    "Container": [(3094503, "container")],
}

# A coarse label's parents, where WordNet's disagree with Rekognition's: a soccer ball is sports
# equipment, not a plaything.
COARSE_PARENTS = {"Ball": ["Sports Equipment"]}

# Where a coarse label's name and place follow a published Rekognition response rather than
# WordNet alone (written to taxonomy.json as each coarse label's "source"). Rekognition's own
# label list (AmazonRekognitionLabels_v3.0.zip, linked from the developer guide's "Detecting
# objects and concepts") was not reachable offline, so only what AWS's examples show is used.
AWS_CLI_DETECT_LABELS = (
    "aws-cli awscli/examples/rekognition/detect-labels.rst: Car and Automobile with Parents "
    "[Vehicle, Transportation], Vehicle with [Transportation], Transportation and Building roots"
)
COARSE_SOURCES = {
    "Transportation": AWS_CLI_DETECT_LABELS,
    "Vehicle": AWS_CLI_DETECT_LABELS,
    "Car": AWS_CLI_DETECT_LABELS,
    "Building": AWS_CLI_DETECT_LABELS,
}
DEFAULT_SOURCE = "wordnet"

# The ImageNet classes that are a label of the developer guide's examples, by Rekognition's name
# (coarse labels correspond by name). The rest of the examples' labels have no ImageNet class;
# tests/unit/test_labeler_taxonomy.py lists them.
REKOGNITION_CLASSES = {
    "Mobile Phone": "n02992529",  # WordNet: cellular telephone, mobile phone
    "Kangaroo": "n01877812",  # WordNet: wallaby, brush kangaroo; Rekognition: alias Wallaby
    "Cup": "n07930864",  # WordNet's sense is a punch, but ImageNet's photos are cups
    "Tiger": "n02129604",
    "Sports Car": "n04285008",
}
DOCS_REPOSITORY = "awsdocs/amazon-rekognition-developer-guide"

# Where the category names come from: Rekognition's documented label categories.
CATEGORIES_SOURCE = (
    "https://docs.aws.amazon.com/rekognition/latest/dg/labels.html (label categories)"
)

# Rekognition's label categories, given to a label through its coarse labels.
CATEGORIES = {
    "Animal": "Animals and Pets",
    "Transportation": "Vehicles and Automotive",
    "Vehicle": "Vehicles and Automotive",
    "Food": "Food and Beverage",
    "Building": "Buildings and Architecture",
    "Bridge": "Buildings and Architecture",
    "Shop": "Buildings and Architecture",
    "Plant": "Plants and Flowers",
    "Fungus": "Plants and Flowers",
    "Landscape": "Nature and Outdoors",
    "Clothing": "Apparel and Accessories",
    "Electronics": "Technology and Computing",
    "Tool": "Tools and Machinery",
    "Weapon": "Weapons and Military",
    "Musical Instrument": "Hobbies and Interests",
    "Sports Equipment": "Sports",
    "Toy": "Toys and Gaming",
    "Furniture": "Home and Indoors",
    "Appliance": "Home and Indoors",
    "Cookware": "Kitchen and Dining",
    "Jewelry": "Apparel and Accessories",
    "Fence": "Buildings and Architecture",
    "Container": "Everyday Objects",
    "Clock": "Everyday Objects",
}

# A class that none of its coarse labels gives a category gets one from its first WordNet
# hypernym here (offset, lemma: checked like COARSE), and "Everyday Objects" without any.
FALLBACK_CATEGORIES = [
    (7942152, "people", "Person Description"),
    (7846, "person", "Person Description"),
    (4341686, "structure", "Buildings and Architecture"),
    (3051540, "clothing", "Apparel and Accessories"),
    (3380867, "footwear", "Apparel and Accessories"),
    (13134947, "fruit", "Plants and Flowers"),
    (13086908, "plant_part", "Plants and Flowers"),
    (9287968, "geological_formation", "Nature and Outdoors"),
]
DEFAULT_CATEGORY = "Everyday Objects"

# Labels the endpoint adds itself (from the face detector): no class alias may take their names.
EXTRA_LABELS = {"Person", "Human", "Face", "Head"}

HYPERNYM_POINTERS = {"@", "@i"}  # hypernym and instance hypernym

# Kind words that make a name longer without saying more ("church building", "television system").
TOO_GENERAL_KINDS = {"building", "system"}

# Corrections to WordNet's hypernym graph where it disagrees with how people search photos:
# a wheeled vehicle is not a Container, a bus or train is a Vehicle (WordNet: public transport,
# a conveyance), a computer or camera is Electronics (WordNet: a machine, photographic equipment).
# ImageNet's missile and projectile photos are rockets on launch pads, not weapons.
REMOVED_HYPERNYMS = {
    (4576211, 3094503),  # wheeled_vehicle -> container
    (3773504, 4565375),  # missile -> weapon
    (4008634, 4565375),  # projectile -> weapon
}
ADDED_HYPERNYMS = {
    (4008634, 4099429),  # projectile -> rocket
    (4019101, 4524313),  # public_transport -> vehicle
    (3082979, 3278248),  # computer -> electronic_equipment
    (2942699, 3278248),  # camera -> electronic_equipment
}


@dataclass
class Synset:
    offset: int
    lemmas: list[str]
    hypernyms: list[int]
    gloss: str


def read_wordnet_nouns(wordnet_dir: Path) -> dict[int, Synset]:
    """Parse data.noun (WordNet's documented wndb(5) format) into synsets by offset."""
    synsets = {}
    with open(wordnet_dir / "data.noun", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("  "):  # the licence header
                continue
            fields_part, _, gloss = line.partition(" | ")
            fields = fields_part.split()
            word_count = int(fields[3], 16)
            lemmas = [fields[4 + 2 * i] for i in range(word_count)]
            at = 4 + 2 * word_count
            pointer_count = int(fields[at])
            pointers = [fields[at + 1 + 4 * i : at + 5 + 4 * i] for i in range(pointer_count)]
            hypernyms = [int(p[1]) for p in pointers if p[0] in HYPERNYM_POINTERS and p[2] == "n"]
            offset = int(fields[0])
            synsets[offset] = Synset(offset, lemmas, hypernyms, gloss.strip())
    for child, parent in REMOVED_HYPERNYMS:
        synsets[child].hypernyms.remove(parent)
    for child, parent in ADDED_HYPERNYMS:
        synsets[child].hypernyms.append(parent)
    return synsets


def lemma_key(text: str) -> str:
    """Lemmas compare case-insensitively, with underscores for spaces."""
    return text.lower().replace(" ", "_")


def ancestors_by_depth(synsets: dict[int, Synset], offset: int) -> dict[int, int]:
    """Every hypernym of a synset with its shortest distance (breadth-first)."""
    depth = {offset: 0}
    frontier = [offset]
    while frontier:
        next_frontier = []
        for current in frontier:
            for parent in synsets[current].hypernyms:
                if parent not in depth:
                    depth[parent] = depth[current] + 1
                    next_frontier.append(parent)
        frontier = next_frontier
    del depth[offset]
    return depth


def candidate_synsets(synsets, by_lemma, label: str) -> list[int]:
    if label in RENAMED:
        lemma, required = RENAMED[label]
        return sorted(
            offset
            for offset in by_lemma[lemma]
            if required in {lemma_key(w) for w in synsets[offset].lemmas}
            or any(
                required in {lemma_key(w) for w in synsets[a].lemmas}
                for a in ancestors_by_depth(synsets, offset)
            )
        )
    return sorted(by_lemma[lemma_key(label)])


def match_classes(synsets: dict[int, Synset], labels: list[str]) -> list[int]:
    """One synset offset per class, rising with the class index (see the module docstring)."""
    by_lemma = defaultdict(set)
    for synset in synsets.values():
        for lemma in synset.lemmas:
            by_lemma[lemma_key(lemma)].add(synset.offset)
    candidates = [candidate_synsets(synsets, by_lemma, label) for label in labels]
    for label, found in zip(labels, candidates, strict=True):
        if not found:
            raise SystemExit(f"no WordNet noun synset is named {label!r}")

    # The largest offset each position can take with every later class still above it.
    highest, following = [0] * len(labels), float("inf")
    for index in reversed(range(len(labels))):
        following = max(offset for offset in candidates[index] if offset < following)
        highest[index] = following

    chosen = []
    for index, label in enumerate(labels):
        above = chosen[-1] if chosen else -1
        below = highest[index + 1] if index + 1 < len(labels) else float("inf")
        feasible = [offset for offset in candidates[index] if above < offset < below]
        if label in SENSE_HINTS:
            feasible = [o for o in feasible if SENSE_HINTS[label] in synsets[o].gloss]
            if len(feasible) != 1:
                raise SystemExit(f"sense hint for {label!r} matches {len(feasible)} synsets")
        chosen.append(feasible[0])
    return chosen


def read_english_words(wordnet_dir: Path) -> set[str]:
    """WordNet's one-word lemmas, any part of speech (index files are lower case)."""
    words = set()
    for part in ("noun", "verb", "adj", "adv"):
        with open(wordnet_dir / f"index.{part}", encoding="utf-8") as lines:
            words.update(line.split(" ", 1)[0] for line in lines if not line.startswith(" "))
    return {word for word in words if "_" not in word}


def is_scientific_name(lemma: str, genus_lemmas: set[str], english_words: set[str]) -> bool:
    """A Latin binomial: 'Felis_concolor', 'Ursus_Maritimus' (the first word is a WordNet genus),
    'Grifola_frondosa' (neither word is English), 'Constrictor_constrictor' (a tautonym)."""
    first, *rest = lemma.split("_")
    if not rest or not first[:1].isupper():
        return False
    known_genus = f"genus_{first.lower()}" in genus_lemmas
    tautonym = first.lower() == rest[0].lower()
    latin = first.lower() not in english_words and all(
        word.islower() and word not in english_words for word in rest
    )
    return known_genus or tautonym or latin


SMALL_WORDS = {"a", "and", "de", "des", "for", "in", "o'", "of", "on", "the", "to"}


def readable(lemma: str) -> str:
    """Title case: 'tabby_cat' -> 'Tabby Cat', 'king_of_beasts' -> 'King of Beasts',
    "jack-o'-lantern" -> "Jack-o'-Lantern"; keeps 'iPod' and 'CD' as they are."""
    parts = re.split(r"([_-])", lemma)
    words = []
    for position, part in enumerate(parts):
        if part == "_":
            words.append(" ")
        elif part == "-" or any(c.isupper() for c in part) or (position and part in SMALL_WORDS):
            words.append(part)
        else:
            words.append(part[:1].upper() + part[1:])
    return "".join(words)


def class_names(synsets, offset: int, label: str, labels: list[str], is_scientific) -> list[str]:
    """Readable synonyms, the label name first.

    The name is the torchvision name, or a synonym that extends it with the name of its kind
    ('tabby' -> 'tabby cat', 'hammerhead' -> 'hammerhead shark', but not 'loudspeaker' ->
    'loudspeaker system' or 'church building'). A name torchvision had to rename ('maillot tank
    suit') becomes the first synonym that no other class is called, if any ('tank suit')."""
    synset = synsets[offset]
    synonyms = [s for s in synset.lemmas if not is_scientific(s)]
    key = lemma_key(label)
    if label in RENAMED:
        others = {lemma_key(other) for other in labels if other != label}
        name = next((s for s in synonyms if lemma_key(s) not in others), label.replace(" ", "_"))
    else:
        name = next(s for s in synonyms if lemma_key(s) == key)
        kinds = {
            lemma_key(w).split("_")[-1]
            for ancestor, depth in ancestors_by_depth(synsets, offset).items()
            if depth <= 2
            for w in synsets[ancestor].lemmas
        } - TOO_GENERAL_KINDS
        extensions = [
            s
            for s in synonyms
            if lemma_key(s).startswith(key + "_") and lemma_key(s).split("_")[-1] in kinds
        ]
        if extensions:
            name = min(extensions, key=len)
    aliases = [s for s in synonyms if lemma_key(s) != lemma_key(name)]
    return [readable(name)] + [readable(a) for a in aliases]


def make_names_unique(classes: list[dict]):
    """A label name must mean one thing ('Amphibian' the animal, not the vehicle): a class
    whose name is a coarse label or another class's name is renamed to its first free alias."""
    names = [c["name"] for c in classes]
    taken = {n for n in names if names.count(n) > 1} | (set(names) & set(COARSE))
    for entry in classes:
        if entry["name"] in taken:
            free = [a for a in entry["aliases"] if a not in taken and a not in names]
            if not free:
                raise SystemExit(f"no unique name for {entry['wnid']} {entry['name']!r}")
            entry["aliases"] = [entry["name"]] + [a for a in entry["aliases"] if a != free[0]]
            entry["name"] = free[0]


def coarse_parents(synsets, offset: int, anchors: dict[int, str], itself: str = "") -> set[str]:
    """Coarse labels among a synset's hypernyms."""
    found = {anchors.get(ancestor) for ancestor in ancestors_by_depth(synsets, offset)}
    return found - {None, itself}


def most_specific_first(names: set[str], coarse: dict[str, set[str]]) -> list[str]:
    """'Cat', 'Mammal', 'Pet', 'Animal': a label before its own parents, then by name."""
    return sorted(names, key=lambda name: (-len(coarse[name]), name))


def categories_for(parents: list[str], label_categories: dict, itself: str = "") -> list[str]:
    names = [*parents, itself] if itself else parents
    return sorted({c for name in names for c in label_categories.get(name, [])})


def fallback_category(synsets, offset: int, fallbacks: dict[int, str]) -> tuple[str, str]:
    """(category, where it came from) for a class none of whose coarse labels has one: the
    nearest hypernym listed in FALLBACK_CATEGORIES, else DEFAULT_CATEGORY."""
    depths = ancestors_by_depth(synsets, offset)
    listed = sorted((depth, a) for a, depth in depths.items() if a in fallbacks)
    if not listed:
        return DEFAULT_CATEGORY, "default"
    ancestor = listed[0][1]
    return fallbacks[ancestor], f"wordnet:{synsets[ancestor].lemmas[0]}"


def close_parents(parents: set[str], coarse_parents: dict[str, list[str]]) -> set[str]:
    """Parents and all their parents: every ancestor of a returned label is returned too."""
    closed, todo = set(), list(parents)
    while todo:
        name = todo.pop()
        if name not in closed:
            closed.add(name)
            todo.extend(coarse_parents[name])
    return closed


@dataclass
class Documented:
    """What the developer guide's examples show of one Rekognition label."""

    parents: set[str] | None  # the union over the examples; None: no example shows them
    parent_lists: list[list[str]]  # each example's, which must all close to the same set
    aliases: list[str]
    categories: list[str] | None
    source: str  # the repository, its commit and the doc files


def read_examples(path: Path = EXAMPLES) -> dict[str, Documented]:
    data = json.loads(path.read_text())
    facts = defaultdict(list)
    for fact in data["facts"]:
        facts[fact["label"]].append(fact)
    documented = {}
    for label, shown in facts.items():
        parent_lists = [fact["parents"] for fact in shown if "parents" in fact]
        category_lists = {tuple(fact["categories"]) for fact in shown if "categories" in fact}
        if len(category_lists) > 1:
            raise SystemExit(f"the examples give {label!r} different categories")
        docs = list(dict.fromkeys(fact["doc"] for fact in shown))
        commits = {fact["commit"] for fact in shown}
        documented[label] = Documented(
            parents=set().union(*map(set, parent_lists)) if parent_lists else None,
            parent_lists=parent_lists,
            aliases=list(dict.fromkeys(a for fact in shown for a in fact.get("aliases", []))),
            categories=sorted(category_lists.pop()) if category_lists else None,
            source=f"{DOCS_REPOSITORY}@{','.join(c[:12] for c in sorted(commits))}: "
            + ", ".join(docs),
        )
    return documented


def documented_parents(label: str, shown: Documented, direct: dict[str, list[str]]) -> set[str]:
    """The closed parents the examples give a label; every example must close to the same."""
    if not shown.parents <= set(direct):
        raise SystemExit(f"{label!r}: documented parents {shown.parents - set(direct)} unknown")
    closed = close_parents(shown.parents, direct)
    for parents in shown.parent_lists:
        if close_parents(set(parents), direct) != closed:
            raise SystemExit(f"the examples give {label!r} different parents")
    return closed


@dataclass
class Hierarchy:
    direct: dict[str, list[str]]  # a coarse label's parents
    coarse_of: dict[str, set[str]]  # ... and all theirs
    label_categories: dict[str, list[str]]  # the categories a coarse label gives its members


def apply_example(entry: dict, label: str, shown: Documented, taxonomy: Hierarchy):
    """Rekognition's name, its aliases first, and its parents and categories where shown."""
    aliases = entry["aliases"] if entry["name"] == label else [entry["name"], *entry["aliases"]]
    entry["name"] = label
    entry["aliases"] = [
        a for a in dict.fromkeys([*shown.aliases, *aliases]) if a.lower() != label.lower()
    ]
    if shown.parents is not None:
        closed = documented_parents(label, shown, taxonomy.direct)
        entry["parents"] = most_specific_first(closed, taxonomy.coarse_of)
        entry["categories"] = categories_for(entry["parents"], taxonomy.label_categories)
        entry["category_source"] = "coarse"
    if shown.categories is not None:
        entry["categories"] = shown.categories
        entry["category_source"] = "documented"
    if not entry["categories"]:
        raise SystemExit(f"{label!r}: its documented parents give it no category")
    entry["source"] = shown.source


def apply_examples(classes: list[dict], documented: dict[str, Documented], taxonomy: Hierarchy):
    by_wnid = {entry["wnid"]: entry for entry in classes}
    for label, wnid in REKOGNITION_CLASSES.items():
        if label not in documented or wnid not in by_wnid:
            raise SystemExit(f"REKOGNITION_CLASSES: {label!r} or {wnid} is not documented")
        others = {c["name"] for c in classes if c["wnid"] != wnid} | set(COARSE)
        if label in others:
            raise SystemExit(f"{label!r} is already another label's name")
        apply_example(by_wnid[wnid], label, documented[label], taxonomy)


def drop_clashing_aliases(classes: list[dict], label_names: set[str]):
    """An alias that is another label's name would make `label=harp` find harmonicas."""
    taken = {name.lower() for name in label_names}
    for entry in classes:
        seen = set()
        kept = []
        for alias in entry["aliases"]:
            if alias.lower() not in taken and alias.lower() not in seen:
                seen.add(alias.lower())
                kept.append(alias)
        entry["aliases"] = kept


def build(wordnet_dir: Path) -> dict:
    synsets = read_wordnet_nouns(wordnet_dir)
    labels = json.loads(LABELS.read_text())
    offsets = match_classes(synsets, labels)
    wnids = [f"n{offset:08d}" for offset in offsets]
    digest = hashlib.sha256(("\n".join(wnids) + "\n").encode()).hexdigest()
    if digest != EXPECTED_WNIDS_SHA256:
        raise SystemExit(f"matched synsets differ from the ILSVRC-2012 list (sha256 {digest})")

    def checked(offset: int, lemma: str, what: str) -> int:
        if lemma not in {lemma_key(w) for w in synsets[offset].lemmas}:
            raise SystemExit(f"{what}: synset {offset} is not {lemma!r}")
        return offset

    anchors = {}
    for name, anchored in COARSE.items():
        for offset, lemma in anchored:
            anchors[checked(offset, lemma, name)] = name
    fallbacks = {checked(o, lemma, cat): cat for o, lemma, cat in FALLBACK_CATEGORIES}
    genus_lemmas = {lemma_key(w) for s in synsets.values() for w in s.lemmas if "genus" in w}
    english_words = read_english_words(wordnet_dir)

    def is_scientific(lemma: str) -> bool:
        return is_scientific_name(lemma, genus_lemmas, english_words)

    documented = read_examples()
    shown_coarse = {name: documented[name] for name in COARSE if name in documented}
    direct = {
        name: COARSE_PARENTS.get(name)
        or sorted(set().union(*(coarse_parents(synsets, o, anchors, name) for o, _ in anchored)))
        for name, anchored in COARSE.items()
    }
    # Rekognition's parents for a coarse label where an example shows them.
    direct |= {name: sorted(s.parents) for name, s in shown_coarse.items() if s.parents is not None}
    coarse_of = {name: close_parents(set(parents), direct) for name, parents in direct.items()}
    label_categories = {name: [category] for name, category in CATEGORIES.items()}
    label_categories |= {
        name: s.categories for name, s in shown_coarse.items() if s.categories is not None
    }
    hierarchy = Hierarchy(direct, coarse_of, label_categories)

    classes = []
    for label, offset in zip(labels, offsets, strict=True):
        name, *aliases = class_names(synsets, offset, label, labels, is_scientific)
        closed = close_parents(coarse_parents(synsets, offset, anchors), direct)
        parents = most_specific_first(closed, coarse_of)
        categories = categories_for(parents, label_categories)
        source = "coarse"
        if not categories:
            category, source = fallback_category(synsets, offset, fallbacks)
            categories = [category]
        classes.append(
            {
                "wnid": f"n{offset:08d}",
                "name": name,
                "aliases": aliases,
                "parents": parents,
                "categories": categories,
                "category_source": source,
                "source": DEFAULT_SOURCE,
            }
        )
    make_names_unique(classes)
    apply_examples(classes, documented, hierarchy)

    # A coarse label no class reaches can never be returned: leave it out.
    used = set().union(*(c["parents"] for c in classes))
    coarse = {}
    for name in COARSE:
        if name in used:
            shown = shown_coarse.get(name)
            if shown and shown.parents is not None:
                documented_parents(name, shown, direct)  # every example agrees
            parents = most_specific_first(coarse_of[name], coarse_of)
            categories = categories_for(parents, label_categories, name)
            if shown and shown.categories is not None:
                categories = shown.categories  # its own, not also its parents'
            sources = [COARSE_SOURCES.get(name), shown and shown.source]
            coarse[name] = {
                "parents": parents,
                "aliases": shown.aliases if shown else [],
                "categories": categories,
                "source": "; ".join(filter(None, sources)) or DEFAULT_SOURCE,
            }
    label_names = {c["name"] for c in classes} | set(coarse) | EXTRA_LABELS
    drop_clashing_aliases(classes, label_names)
    for name, entry in coarse.items():  # Rekognition's own aliases are never dropped
        if {a.lower() for a in entry["aliases"]} & {n.lower() for n in label_names}:
            raise SystemExit(f"an alias of {name!r} is a label's name")
    return {
        "source": "WordNet 3.0 hypernyms of the ILSVRC-2012 synsets (scripts/build_taxonomy.py)",
        "categories_source": CATEGORIES_SOURCE,
        "category_source_values": (
            "coarse: from the class's coarse labels (CATEGORIES); wordnet:<lemma>: from that "
            "hypernym (FALLBACK_CATEGORIES); documented: from a Rekognition example (the "
            "entry's source); default: " + DEFAULT_CATEGORY
        ),
        "examples_source": (
            f"{EXAMPLES.relative_to(ROOT)}: names, aliases, parents and categories of the "
            "labels in the Rekognition developer guide's examples, applied where an ImageNet "
            "class (REKOGNITION_CLASSES) or a coarse label of the same name corresponds"
        ),
        "classes": classes,
        "coarse": coarse,
    }


def to_json(taxonomy: dict) -> str:
    """Indented, but one line per class or coarse label, so that a rebuild diffs readably."""

    def one_line(value) -> str:
        return json.dumps(value, ensure_ascii=False)

    classes = ",\n".join(f"  {one_line(entry)}" for entry in taxonomy["classes"])
    coarse = ",\n".join(f"  {one_line(k)}: {one_line(v)}" for k, v in taxonomy["coarse"].items())
    header = "".join(
        f" {one_line(key)}: {one_line(value)},\n"
        for key, value in taxonomy.items()
        if key not in ("classes", "coarse")
    )
    return f'{{\n{header} "classes": [\n{classes}\n ],\n "coarse": {{\n{coarse}\n }}\n}}\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet-dir", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    taxonomy = build(args.wordnet_dir)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(to_json(taxonomy))
    print(f"wrote {len(taxonomy['classes'])} classes to {args.output}")


if __name__ == "__main__":
    main()
