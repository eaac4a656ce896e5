"""The local Rekognition endpoint, through real boto3 clients, reading images from a moto S3.

Needs requirements-local.txt (onnxruntime, numpy, Pillow), which `make test` installs.
"""

import base64
import concurrent.futures
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from PIL import Image

from localdev.rekognition import LABEL_MODEL_VERSION, LocalRekognition
from localdev.rekognition.images import decode

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
MODELS = ROOT / "localdev" / "rekognition" / "models"
BUCKET = "photos"
# EfficientNet-Lite0's probabilities on the samples, by PyTorch on the model family's reference
# preprocessing (scripts/reference_probabilities.py; provenance inside the file).
REFERENCE = json.loads((ROOT / "tests" / "fixtures" / "classifier_reference.json").read_text())
REFERENCE_TOLERANCE = 0.5  # percentage points
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def s3_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3(s3_url):
    client = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for sample in SAMPLES.iterdir():
        if sample.suffix in {".jpg", ".png"}:
            client.upload_file(str(sample), BUCKET, sample.name)
    client.put_object(Bucket=BUCKET, Key="notes.txt", Body=b"not an image")
    return client


@pytest.fixture(scope="module")
def endpoint(s3, s3_url):
    with LocalRekognition(s3_endpoint_url=s3_url) as server:
        yield server


def rekognition_client(url: str, **config):
    return boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, **config),
        **CREDENTIALS,
    )


@pytest.fixture(scope="module")
def client(endpoint):
    return rekognition_client(endpoint.url)


@pytest.fixture(scope="module")
def unvalidated_client(endpoint):
    """Sends what botocore itself would refuse, as a non-validating SDK might."""
    return rekognition_client(endpoint.url, parameter_validation=False)


def s3_image(name: str, **extra) -> dict:
    return {"S3Object": {"Bucket": BUCKET, "Name": name, **extra}}


def labels_by_name(response: dict) -> dict[str, dict]:
    return {label["Name"]: label for label in response["Labels"]}


def names(items: list[dict]) -> list[str]:
    return [item["Name"] for item in items]


def error_code(call, **request) -> str:
    with pytest.raises(ClientError) as raised:
        call(**request)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return raised.value.response["Error"]["Code"]


def test_cat_photo_is_a_cat_and_an_animal(client):
    response = client.detect_labels(Image=s3_image("chelsea-cat.jpg"), MinConfidence=10)

    labels = labels_by_name(response)
    assert response["LabelModelVersion"] == LABEL_MODEL_VERSION
    # Cat is the sum of the detected breeds (Egyptian 39 %, tiger 35 %, tabby 18 %, lynx 2 %).
    assert labels["Cat"]["Confidence"] > 90
    assert names(labels["Cat"]["Parents"]) == ["Mammal", "Animal"]
    assert labels["Animal"]["Confidence"] >= labels["Cat"]["Confidence"]
    breeds = [name for name in labels if name in {"Egyptian Cat", "Tiger Cat", "Tabby Cat"}]
    assert breeds, f"no cat breed among {list(labels)}"
    assert names(labels[breeds[0]]["Parents"]) == ["Cat", "Mammal", "Pet", "Animal"]
    assert labels["Cat"]["Categories"] == [{"Name": "Animals and Pets"}]
    assert "Person" not in labels


def test_labels_come_most_confident_first_with_rekognition_fields(client):
    response = client.detect_labels(Image=s3_image("chelsea-cat.jpg"), MinConfidence=0)

    confidences = [label["Confidence"] for label in response["Labels"]]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0 <= confidence <= 100 for confidence in confidences)
    tabby = labels_by_name(response)["Tabby Cat"]
    assert set(tabby) == {"Name", "Confidence", "Instances", "Parents", "Aliases", "Categories"}
    assert tabby["Aliases"] == [{"Name": "Tabby"}]


def test_portrait_has_a_person_and_a_face_with_the_face_box(client):
    labels = labels_by_name(client.detect_labels(Image=s3_image("astronaut.jpg")))

    person = labels["Person"]
    assert person["Confidence"] > 90
    assert person["Parents"] == []
    # A face box is Face's instance; it does not pose as a Person (body) instance.
    assert person["Instances"] == []
    [instance] = labels["Face"]["Instances"]
    # Eileen Collins' face in the 512x512 portrait: x 180-269, y 60-173 pixels.
    box = instance["BoundingBox"]
    assert box["Left"] == pytest.approx(180 / 512, abs=0.02)
    assert box["Top"] == pytest.approx(60 / 512, abs=0.02)
    assert box["Width"] == pytest.approx(89 / 512, abs=0.02)
    assert box["Height"] == pytest.approx(113 / 512, abs=0.02)
    assert names(labels["Face"]["Parents"]) == ["Head", "Person"]


def test_detect_faces_returns_one_face_with_five_landmarks(client):
    response = client.detect_faces(Image=s3_image("astronaut.jpg"))

    [face] = response["FaceDetails"]
    assert face["Confidence"] > 90
    box = face["BoundingBox"]
    landmarks = {landmark["Type"]: landmark for landmark in face["Landmarks"]}
    assert set(landmarks) == {"eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"}
    for landmark in landmarks.values():
        assert box["Left"] < landmark["X"] < box["Left"] + box["Width"]
        assert box["Top"] < landmark["Y"] < box["Top"] + box["Height"]
    assert landmarks["eyeLeft"]["X"] < landmarks["nose"]["X"] < landmarks["eyeRight"]["X"]
    assert landmarks["eyeLeft"]["Y"] < landmarks["nose"]["Y"] < landmarks["mouthLeft"]["Y"]


def test_detect_faces_finds_no_face_on_a_cat(client):
    assert client.detect_faces(Image=s3_image("chelsea-cat.jpg"))["FaceDetails"] == []


def test_coffee_is_an_espresso_and_a_drink(client):
    labels = labels_by_name(client.detect_labels(Image=s3_image("coffee.jpg")))

    assert labels["Espresso"]["Confidence"] > 80
    assert names(labels["Espresso"]["Parents"]) == ["Coffee", "Drink", "Food"]
    assert labels["Coffee"]["Confidence"] >= labels["Espresso"]["Confidence"]
    assert labels["Drink"]["Confidence"] >= labels["Espresso"]["Confidence"]


def test_inline_bytes_give_the_same_labels_as_the_s3_object(client):
    image_bytes = (SAMPLES / "coffee.jpg").read_bytes()

    from_bytes = client.detect_labels(Image={"Bytes": image_bytes}, MaxLabels=5)
    from_s3 = client.detect_labels(Image=s3_image("coffee.jpg"), MaxLabels=5)

    assert from_bytes["Labels"] == from_s3["Labels"]


def test_max_labels_keeps_the_most_confident(client):
    everything = client.detect_labels(Image=s3_image("chelsea-cat.jpg"), MinConfidence=0)
    top_three = client.detect_labels(
        Image=s3_image("chelsea-cat.jpg"), MinConfidence=0, MaxLabels=3
    )

    assert top_three["Labels"] == everything["Labels"][:3]
    assert client.detect_labels(Image=s3_image("chelsea-cat.jpg"), MaxLabels=0)["Labels"] == []


def test_min_confidence_drops_less_confident_labels(client):
    confident = client.detect_labels(Image=s3_image("chelsea-cat.jpg"), MinConfidence=90)
    default = labels_by_name(client.detect_labels(Image=s3_image("chelsea-cat.jpg")))

    assert names(confident["Labels"]) == ["Animal", "Mammal", "Cat", "Pet"]
    # Rekognition's default MinConfidence is 55: the 35-40 % breeds are left out.
    assert "Cat" in default
    assert all(label["Confidence"] >= 55 for label in default.values())
    assert not {"Egyptian Cat", "Tiger Cat"} & set(default)


def test_versioned_object_is_read_by_version(client, s3):
    version = s3.head_object(Bucket=BUCKET, Key="coffee.jpg")["VersionId"]

    response = client.detect_labels(Image=s3_image("coffee.jpg", Version=version), MaxLabels=1)

    assert names(response["Labels"]) == ["Food"]


def test_label_filters_and_image_properties(client):
    response = client.detect_labels(
        Image=s3_image("coffee.jpg"),
        Features=["GENERAL_LABELS", "IMAGE_PROPERTIES"],
        Settings={
            "GeneralLabels": {"LabelInclusionFilters": ["Drink", "Espresso", "Cat"]},
            "ImageProperties": {"MaxDominantColors": 3},
        },
    )

    assert names(response["Labels"]) == ["Drink", "Espresso"]
    properties = response["ImageProperties"]
    assert set(properties["Quality"]) == {"Brightness", "Sharpness", "Contrast"}
    assert all(0 <= value <= 100 for value in properties["Quality"].values())
    colors = properties["DominantColors"]
    assert 1 <= len(colors) <= 3
    assert re.fullmatch(r"#[0-9A-F]{6}", colors[0]["HexCode"])
    assert sum(color["PixelPercent"] for color in colors) == pytest.approx(100)

    only_properties = client.detect_labels(
        Image=s3_image("coffee.jpg"), Features=["IMAGE_PROPERTIES"]
    )
    assert "Labels" not in only_properties
    assert "ImageProperties" in only_properties


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (s3_image("notes.txt"), "InvalidImageFormatException"),
        (s3_image("missing.jpg"), "InvalidS3ObjectException"),
        (
            {"S3Object": {"Bucket": "no-such-bucket", "Name": "coffee.jpg"}},
            "InvalidS3ObjectException",
        ),
        (s3_image("coffee.jpg", Version="no-such-version"), "InvalidS3ObjectException"),
        ({"Bytes": b"GIF89a" + bytes(200)}, "InvalidImageFormatException"),
        ({"Bytes": (SAMPLES / "coffee.jpg").read_bytes()[:2000]}, "InvalidImageFormatException"),
        ({"Bytes": bytes(5 * 1024 * 1024 + 1)}, "ImageTooLargeException"),
        ({"Bytes": png_bytes(79, 300)}, "InvalidParameterException"),
        ({}, "InvalidParameterException"),
    ],
    ids=[
        "not-an-image",
        "missing-key",
        "missing-bucket",
        "missing-version",
        "gif",
        "truncated-jpeg",
        "bytes-over-5-mb",
        "under-80-px",
        "no-image-source",
    ],
)
def test_image_errors_are_rekognitions(client, image, expected):
    assert error_code(client.detect_labels, Image=image) == expected
    assert error_code(client.detect_faces, Image=image) == expected


def test_s3_object_over_15_mb_is_too_large(client, s3):
    s3.put_object(Bucket=BUCKET, Key="huge.jpg", Body=bytes(15 * 1024 * 1024 + 1))

    assert error_code(client.detect_labels, Image=s3_image("huge.jpg")) == "ImageTooLargeException"


@pytest.mark.parametrize(
    "request_members",
    [
        {"MaxLabels": -1},
        {"MaxLabels": "ten"},
        {"MinConfidence": 100.5},
        {"MinConfidence": -1},
        {"Features": ["GENERAL_LABELS", "FACES"]},
        {"Image": {"Bytes": "bm90IGJhc2U2NA==", "S3Object": {"Bucket": BUCKET, "Name": "a"}}},
    ],
    ids=[
        "negative-max",
        "text-max",
        "confidence-over-100",
        "negative-confidence",
        "feature",
        "both",
    ],
)
def test_bad_parameters_are_invalid_parameter_exceptions(unvalidated_client, request_members):
    request = {"Image": s3_image("coffee.jpg"), **request_members}

    code = error_code(unvalidated_client.detect_labels, **request)

    assert code == "InvalidParameterException"


def test_unsupported_operation_is_refused_by_name(client):
    with pytest.raises(ClientError) as raised:
        client.detect_text(Image=s3_image("coffee.jpg"))

    assert raised.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "DetectText" in raised.value.response["Error"]["Message"]


# A syntactically complete SigV4 header: the endpoint checks its presence, not its signature.
SIGNED = (
    "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/rekognition/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


def raw_post(url: str, body: bytes, authorization: str | None = SIGNED):
    """POST a DetectLabels body by hand: (HTTP status, parsed JSON answer)."""
    headers = {
        "X-Amz-Target": "RekognitionService.DetectLabels",
        "Content-Type": "application/x-amz-json-1.1",
    }
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url + "/", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_malformed_json_is_an_error_in_the_json_protocol_format(endpoint):
    request = urllib.request.Request(
        endpoint.url + "/",
        data=b"{not json",
        headers={
            "X-Amz-Target": "RekognitionService.DetectLabels",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": SIGNED,
        },
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)

    assert raised.value.code == 400
    assert raised.value.headers["Content-Type"] == "application/x-amz-json-1.1"
    body = json.loads(raised.value.read())
    assert body["__type"] == body["Code"] == "SerializationException"
    assert body["Message"].startswith("Request body is not valid JSON")


def test_aws_endpoint_url_rekognition_reaches_the_endpoint(endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", endpoint.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # read the environment afresh

    client = boto3.client("rekognition")
    response = client.detect_labels(Image={"Bytes": (SAMPLES / "coffee.jpg").read_bytes()})

    assert client.meta.endpoint_url == endpoint.url
    assert response["LabelModelVersion"] == LABEL_MODEL_VERSION


def test_concurrent_requests_get_the_same_answer(client):
    def labels(_):
        return client.detect_labels(Image=s3_image("chelsea-cat.jpg"), MaxLabels=5)["Labels"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(labels, range(4)))

    assert all(answer == answers[0] for answer in answers)


def test_cli_serves_until_stopped(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "localdev.rekognition", "--port", "0", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        url = process.stdout.readline().split(" at ")[1].strip()
        response = rekognition_client(url).detect_faces(
            Image={"Bytes": (SAMPLES / "astronaut.jpg").read_bytes()}
        )
        assert len(response["FaceDetails"]) == 1
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_shipped_models_match_the_checksums_in_their_readme():
    readme = (MODELS / "README.md").read_text()
    listed = dict(
        re.findall(r"`([\w.-]+\.(?:onnx|json))`\s*\|[^|]*\|[^|]*\|\s*`([0-9a-f]{64})`", readme)
    )

    assert set(listed) == {p.name for p in MODELS.iterdir() if p.suffix in {".onnx", ".json"}}
    for name, digest in listed.items():
        assert hashlib.sha256((MODELS / name).read_bytes()).hexdigest() == digest, name


def test_a_json_body_that_is_not_an_object_is_a_serialization_exception(endpoint):
    status, body = raw_post(endpoint.url, b"[1, 2]")

    assert status == 400
    assert body["__type"] == body["Code"] == "SerializationException"


def test_error_bodies_carry_code_and_logref(endpoint):
    status, body = raw_post(endpoint.url, json.dumps({"MaxLabels": -1}).encode())

    assert status == 400
    assert body["__type"] == body["Code"] == "InvalidParameterException"
    assert body["Message"] and body["Logref"]


def test_an_unsigned_request_gets_missing_authentication_token(endpoint):
    image = base64.b64encode((SAMPLES / "coffee.jpg").read_bytes()).decode()
    body = json.dumps({"Image": {"Bytes": image}}).encode()

    status, answer = raw_post(endpoint.url, body, authorization=None)

    assert status == 400
    assert answer["__type"] == answer["Code"] == "MissingAuthenticationTokenException"
    assert answer["Message"] == "Missing Authentication Token"
    assert raw_post(endpoint.url, body)[0] == 200  # the same body, signed


def test_an_unsigned_boto3_client_is_refused(endpoint):
    unsigned = rekognition_client(endpoint.url, signature_version=UNSIGNED)

    with pytest.raises(ClientError) as raised:
        unsigned.detect_labels(Image={"Bytes": (SAMPLES / "coffee.jpg").read_bytes()})

    error = raised.value.response
    assert error["Error"]["Code"] == "MissingAuthenticationTokenException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_authorization_header_that_is_not_sigv4_is_an_incomplete_signature(endpoint):
    status, body = raw_post(endpoint.url, b"{}", authorization="Bearer abc")

    assert status == 400
    assert body["__type"] == "IncompleteSignatureException"


@pytest.mark.parametrize("max_labels", [1001, 5000])
def test_max_labels_over_1000_is_invalid(unvalidated_client, max_labels):
    code = error_code(
        unvalidated_client.detect_labels, Image=s3_image("coffee.jpg"), MaxLabels=max_labels
    )

    assert code == "InvalidParameterException"


def test_max_labels_1000_is_accepted(client):
    response = client.detect_labels(Image=s3_image("coffee.jpg"), MaxLabels=1000)

    assert 0 < len(response["Labels"]) <= 1000


def test_an_image_over_10000_px_on_a_side_is_too_large_for_detect_labels(client):
    too_wide = {"Bytes": png_bytes(10_001, 100)}

    assert error_code(client.detect_labels, Image=too_wide) == "ImageTooLargeException"
    assert client.detect_labels(Image={"Bytes": png_bytes(10_000, 100)})["Labels"] is not None


@pytest.mark.parametrize(
    "sample", ["astronaut.jpg", "cameraman.png", "chelsea-cat.jpg", "coffee.jpg", "rocket.jpg"]
)
def test_every_returned_label_has_its_ancestors_at_least_as_confident(client, sample):
    for min_confidence, max_labels in ((0, 1000), (30, 25), (55, 3)):
        response = client.detect_labels(
            Image=s3_image(sample), MinConfidence=min_confidence, MaxLabels=max_labels
        )
        labels = labels_by_name(response)
        for label in labels.values():
            assert label["Categories"], f"{label['Name']} has no category"
            for parent in names(label["Parents"]):
                assert parent in labels, f"{label['Name']} without its parent {parent}"
                assert labels[parent]["Confidence"] >= label["Confidence"], (label, parent)


def test_rocket_is_a_rocket_and_a_vehicle_not_a_weapon(client):
    labels = client.detect_labels(Image=s3_image("rocket.jpg"), MinConfidence=30)["Labels"]

    # Transportation above Vehicle, as Rekognition answers for a car (aws-cli's example).
    assert names(labels)[:3] == ["Transportation", "Vehicle", "Rocket"]
    assert names(labels_by_name({"Labels": labels})["Rocket"]["Parents"]) == [
        "Vehicle",
        "Transportation",
    ]
    assert "Weapon" not in names(labels)


def jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, **options)
    return buffer.getvalue()


def twin_variants() -> dict[str, bytes]:
    """The portrait in other colour modes and orientations, each meaning the same picture."""
    upright = Image.open(SAMPLES / "astronaut.jpg").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: the stored pixels need a 90° turn clockwise
    grey16 = Image.fromarray(
        (np.asarray(upright.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    )
    variants = {
        "cmyk-jpeg": jpeg_bytes(upright.convert("CMYK")),
        "exif-rotated": jpeg_bytes(upright.transpose(Image.Transpose.ROTATE_90), exif=exif),
    }
    for name, image in {"rgba-png": upright.convert("RGBA"), "grey-16-bit-png": grey16}.items():
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        variants[name] = buffer.getvalue()
    return variants


@pytest.mark.parametrize("variant", ["cmyk-jpeg", "exif-rotated", "rgba-png", "grey-16-bit-png"])
def test_colour_modes_and_orientation_label_like_the_rgb_original(client, variant):
    original = labels_by_name(
        client.detect_labels(Image={"Bytes": (SAMPLES / "astronaut.jpg").read_bytes()})
    )
    twin = client.detect_labels(Image={"Bytes": twin_variants()[variant]})
    faces = client.detect_faces(Image={"Bytes": twin_variants()[variant]})["FaceDetails"]

    labels = labels_by_name(twin)
    assert labels["Person"]["Confidence"] == pytest.approx(original["Person"]["Confidence"], abs=1)
    assert len(faces) == 1
    if variant == "exif-rotated":  # upright again: the face box is where the original's is
        box = faces[0]["BoundingBox"]
        assert box["Left"] == pytest.approx(180 / 512, abs=0.03)
        assert box["Top"] == pytest.approx(60 / 512, abs=0.03)


def test_the_reference_covers_every_shipped_sample():
    shipped = {path.name for path in SAMPLES.iterdir() if path.suffix in {".jpg", ".png"}}
    assert set(REFERENCE["samples"]) == shipped


@pytest.mark.parametrize("sample", sorted(REFERENCE["samples"]))
def test_the_classifier_reproduces_the_reference_probabilities(endpoint, sample):
    reference = REFERENCE["samples"][sample]
    data = (SAMPLES / sample).read_bytes()
    assert hashlib.sha256(data).hexdigest() == reference["sha256"]  # the bytes it was made from
    # The endpoint's own decode and classifier, as DetectLabels runs them.
    percent = endpoint.service.classifier.probabilities(decode(data)) * 100
    for expected in reference["top"]:
        assert percent[expected["index"]] == pytest.approx(
            expected["percent"], abs=REFERENCE_TOLERANCE
        ), expected["name"]
