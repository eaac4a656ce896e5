"""The SQS handler invoked through chalice.test.Client exactly as Lambda invokes it, writing to
the session's real search node with the project's own .chalice/config.json (dev stage)."""

import json

import boto3
import pytest
from botocore.stub import Stubber
from chalice.test import Client

import app as app_module
from chalicelib import documents
from chalicelib.components import Components
from chalicelib.documents import image_id
from chalicelib.ingest import BatchNotFullyProcessed
from localdev.chalice_stage import stage_copy
from tests.samples import s3_event_body, s3_record, sqs_event, sqs_record

pytestmark = pytest.mark.integration


@pytest.fixture
def project_dir(tmp_path, opensearch_url, index_alias):
    """A copy of the project's chalice config whose dev stage points at the test node."""
    return stage_copy(
        tmp_path,
        SEARCH_ENDPOINT=opensearch_url,
        INDEX_ALIAS=index_alias,
        AWS_REGION="us-east-1",
        # One Rekognition call at a time, so the Stubber sees them in a known order.
        REKOGNITION_CONCURRENCY="1",
    )


@pytest.fixture
def rekognition(serve_components):
    """Fresh components for this test, with a stubbed Rekognition client."""
    client = boto3.client(
        "rekognition",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    serve_components(Components(rekognition=client))
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def expect_labels(stubber, key, *labels):
    stubber.add_response(
        "detect_labels",
        {
            "Labels": [
                {"Name": name, "Confidence": confidence, "Parents": [{"Name": "Animal"}]}
                for name, confidence in labels
            ],
            "LabelModelVersion": "3.0",
        },
        expected_params={
            "Image": {"S3Object": {"Bucket": "photos", "Name": key}},
            "MaxLabels": 25,
            "MinConfidence": 70.0,
        },
    )


def invoke(project_dir, event):
    with Client(app_module.app, stage_name="dev", project_dir=str(project_dir)) as client:
        return client.lambda_.invoke("index_images", event).payload


def live_documents(search_client, alias):
    search_client.indices.refresh(index=alias)
    body = {"size": 100, "query": {"term": {"deleted": False}}}
    hits = search_client.search(index=alias, body=body)["hits"]["hits"]
    return {hit["_source"]["key"]: hit["_source"] for hit in hits}


def mixed_batch():
    two_records = json.dumps(
        {
            "Records": [
                s3_record("ObjectCreated:Put", "cats/Zoë+friend.png", sequencer="02"),
                s3_record("ObjectRemoved:Delete", "old.jpg", sequencer="03"),
            ]
        }
    )
    return sqs_event(
        sqs_record("m-dog", s3_event_body("ObjectCreated:Put", "pets/rex the dog.jpg")),
        sqs_record("m-two", two_records),
        sqs_record("m-test", json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})),
        sqs_record("m-bad", "{not json"),
    )


def test_a_batch_is_indexed_and_only_the_malformed_message_is_retried(
    project_dir, rekognition, search_client, index_alias
):
    expect_labels(rekognition, "pets/rex the dog.jpg", ("Dog", 97.5))
    expect_labels(rekognition, "cats/Zoë+friend.png", ("Cat", 91.0), ("Dog", 72.0))

    payload = invoke(project_dir, mixed_batch())

    assert payload == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
    docs = live_documents(search_client, index_alias)
    assert sorted(docs) == ["cats/Zoë+friend.png", "pets/rex the dog.jpg"]
    dog = docs["pets/rex the dog.jpg"]
    assert dog["image_id"] == image_id("photos", "pets/rex the dog.jpg")
    assert dog["s3_uri"] == "s3://photos/pets/rex the dog.jpg"
    assert dog["url"] == "https://s3.us-east-1.amazonaws.com/photos/pets/rex%20the%20dog.jpg"
    assert dog["label_names"] == ["Dog", "Animal"]
    assert dog["labels"][0]["name"] == "Dog" and dog["labels"][0]["confidence"] == 97.5
    assert dog["size"] == 1024 and dog["label_model_version"] == "3.0"
    assert [label["name"] for label in docs["cats/Zoë+friend.png"]["labels"]] == ["Cat", "Dog"]


def test_reprocessing_a_batch_creates_no_duplicates_and_no_rekognition_calls(
    project_dir, rekognition, search_client, index_alias
):
    expect_labels(rekognition, "pets/rex the dog.jpg", ("Dog", 97.5))
    expect_labels(rekognition, "cats/Zoë+friend.png", ("Cat", 91.0))
    first = invoke(project_dir, mixed_batch())
    search_client.indices.refresh(index=index_alias)
    versions = {
        hit["_id"]: hit["_version"]
        for hit in search_client.search(index=index_alias, body={"version": True})["hits"]["hits"]
    }

    # Redelivered: the stored states are as new, so nothing is labelled (the Stubber has no
    # responses left and would fail any call) and nothing is rewritten.
    assert invoke(project_dir, mixed_batch()) == first

    search_client.indices.refresh(index=index_alias)
    assert search_client.count(index=index_alias)["count"] == 3  # two images, one tombstone
    assert len(live_documents(search_client, index_alias)) == 2
    again = search_client.search(index=index_alias, body={"version": True})["hits"]["hits"]
    assert {hit["_id"]: hit["_version"] for hit in again} == versions


def test_a_rejected_bulk_item_is_reported_for_its_own_message(
    project_dir, rekognition, search_client, index_alias, monkeypatch
):
    # A real per-document rejection that every engine produces (the mapping is strict): the
    # document of crowded.jpg carries a field the mapping does not know.
    build = documents.image_document

    def with_unmapped_field(event, *args):
        document = build(event, *args)
        return {**document, "not_in_the_mapping": 1} if event.key == "crowded.jpg" else document

    monkeypatch.setattr(documents, "image_document", with_unmapped_field)
    expect_labels(rekognition, "small.jpg", ("Dog", 90.0))
    expect_labels(rekognition, "crowded.jpg", ("Dog", 90.0), ("Cat", 90.0), ("Cow", 90.0))

    payload = invoke(
        project_dir,
        sqs_event(
            sqs_record("m-small", s3_event_body("ObjectCreated:Put", "small.jpg")),
            sqs_record("m-crowded", s3_event_body("ObjectCreated:Put", "crowded.jpg")),
        ),
    )

    assert payload == {"batchItemFailures": [{"itemIdentifier": "m-crowded"}]}
    assert sorted(live_documents(search_client, index_alias)) == ["small.jpg"]


def test_without_partial_batch_responses_a_failure_fails_the_invocation(
    project_dir, rekognition, monkeypatch
):
    config_path = project_dir / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["dev"]["environment_variables"]["PARTIAL_BATCH_RESPONSE"] = "false"
    config_path.write_text(json.dumps(config))

    with pytest.raises(BatchNotFullyProcessed, match="m-bad"):
        invoke(project_dir, sqs_event(sqs_record("m-bad", "{not json")))
