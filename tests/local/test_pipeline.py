"""The full local pipeline in-process, on real images: upload -> S3 notification -> SQS ->
poller -> the Chalice handler -> local Rekognition -> store -> API."""

import json
import urllib.request

from chalicelib.documents import image_id
from localdev import cli
from localdev.backfill import created_event, list_objects, notification_body
from localdev.run import SAMPLES
from tests.local.conftest import wait_for


def api_get(stack, path):
    with urllib.request.urlopen(stack.api_url + path, timeout=30) as response:
        return json.load(response)


def labels_of(document):
    return {label["name"]: label for label in document["labels"]}


def test_sample_images_are_labelled_and_searchable(local_stack):
    keys = cli.upload([str(SAMPLES)], local_stack.options.bucket, s3=local_stack.s3)
    assert sorted(keys) == sorted(path.name for path in SAMPLES.iterdir() if path.suffix != ".md")
    documents = local_stack.wait_until_indexed(keys, timeout=60)

    cat = labels_of(documents["chelsea-cat.jpg"])
    assert "Cat" in cat and "Animal" in cat["Cat"]["parents"]
    portrait = documents["astronaut.jpg"]
    person, face = labels_of(portrait)["Person"], labels_of(portrait)["Face"]
    assert person["confidence"] > 90 and face["instances"], "Face comes with its face box"
    assert portrait["face_count"] == 1
    box = portrait["faces"][0]["bounding_box"]
    assert 0 < box["width"] < 1 and 0 < box["height"] < 1
    assert "Drink" in labels_of(documents["coffee.jpg"])

    found = wait_for(
        lambda: api_get(local_stack, "/search?label=cat")["items"], what="cat to be searchable"
    )
    assert [item["key"] for item in found] == ["chelsea-cat.jpg"]
    assert found[0]["url"].startswith(local_stack.s3_url)  # presigned against local S3
    with urllib.request.urlopen(found[0]["url"], timeout=10) as image:
        assert image.read(3) == b"\xff\xd8\xff"  # the presigned URL serves the JPEG


def test_a_poison_message_ends_in_the_dlq_while_its_batch_is_indexed(local_stack):
    bucket = local_stack.options.bucket
    # One batch that holds a poison message and a valid (synthetic) event for a real image.
    local_stack.s3.put_object(
        Bucket=bucket, Key="good.jpg", Body=(SAMPLES / "coffee.jpg").read_bytes()
    )
    local_stack.wait_until_indexed(["good.jpg"], timeout=60)
    [obj] = list_objects(local_stack.s3, bucket, "good.jpg")
    good = notification_body(created_event(bucket, obj, "us-east-1"))
    local_stack.sqs.send_message_batch(
        QueueUrl=local_stack.queue_url,
        Entries=[
            {"Id": "poison", "MessageBody": "this is not an S3 event"},
            {"Id": "good", "MessageBody": good},
        ],
    )
    wait_for(lambda: local_stack.queue_depths() == {"queue": 0, "dlq": 1}, what="the DLQ")
    dead = local_stack.sqs.receive_message(QueueUrl=local_stack.dlq_url)["Messages"]
    assert [message["Body"] for message in dead] == ["this is not an S3 event"]
    assert local_stack.app_module.components.store.get(image_id(bucket, "good.jpg"))


def test_deleting_an_object_removes_it_from_search(local_stack):
    bucket = local_stack.options.bucket
    local_stack.s3.upload_file(str(SAMPLES / "chelsea-cat.jpg"), bucket, "to delete.jpg")
    local_stack.wait_until_indexed(["to delete.jpg"], timeout=60)
    local_stack.s3.delete_object(Bucket=bucket, Key="to delete.jpg")
    store = local_stack.app_module.components.store
    wait_for(lambda: store.get(image_id(bucket, "to delete.jpg")) is None, what="the delete")
    wait_for(
        lambda: api_get(local_stack, "/search?label=cat")["total"] == 0,
        what="search to forget the image",
    )


def test_backfill_indexes_images_stored_before_the_pipeline(local_stack):
    # A bucket without a notification: its images exist but no event ever announced them.
    local_stack.s3.create_bucket(Bucket="older-photos")
    cli.upload([str(SAMPLES)], "older-photos", prefix="archive/", s3=local_stack.s3)
    local_stack.s3.put_object(Bucket="older-photos", Key="archive/notes.txt", Body=b"hello")

    sent = cli.backfill("older-photos", local_stack.queue_url, "archive/", local_stack.s3,
                        local_stack.sqs)  # fmt: skip

    keys = [f"archive/{path.name}" for path in SAMPLES.iterdir() if path.suffix != ".md"]
    assert sent == len(keys)  # notes.txt is not an image
    local_stack.wait_until_indexed(keys, bucket="older-photos", timeout=60)
    wait_for(lambda: local_stack.queue_depths() == {"queue": 0, "dlq": 0}, what="an empty queue")
