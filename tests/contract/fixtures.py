"""A small, varied image collection for the store contract tests.

Expected results in the tests are computed from these definitions by brute force wherever
that is practical, so the fixtures can grow without the assertions going stale.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chalicelib import documents
from chalicelib.events import CREATED, REMOVED, ObjectEvent
from chalicelib.store.base import ImageWrite
from chalicelib.timestamps import canonical_time
from chalicelib.vocabulary import ImageAnalysis

BASE_TIME = datetime(2026, 11, 1, tzinfo=UTC)

ANIMAL = ("Animal", "Mammal", "Pet")


@dataclass(frozen=True)
class Label:
    name: str
    confidence: float
    parents: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def as_dict(self):
        return {
            "name": self.name,
            "confidence": self.confidence,
            "parents": list(self.parents),
            "aliases": list(self.aliases),
            "categories": [],
            "instances": [],
        }


@dataclass(frozen=True)
class Image:
    key: str
    labels: tuple[Label, ...]
    day: int  # indexed on BASE_TIME + day; uploaded (event time) one hour earlier
    bucket: str = "photos"
    text: tuple[str, ...] = ()
    deleted: bool = False
    sequencer: str = field(default="0010")


IMAGES = (
    Image(
        "parks/dog-park.jpg",
        (Label("Dog", 95.5, ANIMAL, ("Canine",)), Label("Grass", 80.25, ("Plant",))),
        day=1,
    ),
    Image(
        "home/cat-sofa.jpg",
        (
            Label("Cat", 92.0, ANIMAL, ("Kitty",)),
            Label("Couch", 71.0, ("Furniture",)),
            Label("Furniture", 75.0),
        ),
        day=2,
    ),
    Image("home/mixed.jpg", (Label("Dog", 60.0, ANIMAL), Label("Cat", 96.0, ANIMAL)), day=3),
    Image(
        "city/café-sign.jpg",
        (Label("Café", 88.0, ("Building",)), Label("Building", 90.0)),
        day=4,
        text=("OPEN DAILY", "espresso bar"),
    ),
    Image("space/rocket.png", (Label("Rocket", 97.0, ("Vehicle",)), Label("Smoke", 70.5)), day=5),
    Image("people/portrait.jpg", (Label("Person", 99.0), Label("Face", 98.0, ("Person",))), day=6),
    Image(
        "kitchen/coffee.jpg",
        (Label("Coffee Cup", 93.0, ("Drink",), ("Cup",)), Label("Drink", 91.0, ("Food",))),
        day=7,
    ),
    Image(
        "beach/dog.jpg",
        (Label("Dog", 85.0, ANIMAL), Label("Beach", 80.0, ("Nature",))),
        day=8,
        bucket="holiday-photos",
    ),
    Image("parks/gone.jpg", (Label("Dog", 99.9, ANIMAL),), day=9, deleted=True),
    Image(
        "parks/puppy.png", (Label("Dog", 88.0, ANIMAL), Label("Grass", 95.0, ("Plant",))), day=10
    ),
    Image("misc/Straße.jpg", (Label("Straße", 77.0), Label("Car", 82.0, ("Vehicle",))), day=11),
)

LIVE = tuple(image for image in IMAGES if not image.deleted)


def indexed_at(image: Image) -> datetime:
    return BASE_TIME + timedelta(days=image.day)


def event_time(image: Image) -> datetime:
    return indexed_at(image) - timedelta(hours=1)


def _event(image: Image, action: str, sequencer: str) -> ObjectEvent:
    return ObjectEvent(
        action=action,
        bucket=image.bucket,
        key=image.key,
        event_name="ObjectCreated:Put" if action == CREATED else "ObjectRemoved:Delete",
        event_time=canonical_time(event_time(image)),
        region="us-east-1",
        size=1000 + image.day if action == CREATED else None,
        etag=f"etag-{image.day}" if action == CREATED else None,
        version_id=None,
        sequencer=sequencer,
    )


def create_write(image: Image, at: datetime | None = None) -> ImageWrite:
    analysis = ImageAnalysis(
        labels=[label.as_dict() for label in image.labels],
        label_model_version="3.0",
        text=[{"text": line, "confidence": 99.0} for line in image.text] or None,
    )
    document = documents.image_document(
        _event(image, CREATED, image.sequencer), analysis, "us-east-1", at or indexed_at(image)
    )
    return ImageWrite(document["image_id"], document)


def delete_write(image: Image) -> ImageWrite:
    document = documents.tombstone(_event(image, REMOVED, image.sequencer + "1"), indexed_at(image))
    return ImageWrite(document["image_id"], document)


def all_writes() -> list[ImageWrite]:
    writes = [create_write(image) for image in IMAGES]
    writes += [delete_write(image) for image in IMAGES if image.deleted]
    return writes


def image_id(image: Image) -> str:
    return documents.image_id(image.bucket, image.key)
