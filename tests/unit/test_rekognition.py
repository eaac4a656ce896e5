"""The exact Rekognition requests, pinned with botocore's Stubber."""

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.rekognition import LabelOptions, RekognitionLabeler, UnprocessableImage

DOG_RESPONSE = {
    "Labels": [
        {
            "Name": "Dog",
            "Confidence": 98.7654,
            "Instances": [
                {
                    "BoundingBox": {"Width": 0.5, "Height": 0.6, "Left": 0.1, "Top": 0.2},
                    "Confidence": 97.5,
                }
            ],
            "Parents": [{"Name": "Animal"}, {"Name": "Mammal"}, {"Name": "Pet"}],
            "Aliases": [{"Name": "Canine"}],
            "Categories": [{"Name": "Animals and Pets"}],
        },
        {"Name": "Grass", "Confidence": 81.0, "Instances": [], "Parents": [{"Name": "Plant"}]},
    ],
    "LabelModelVersion": "3.0",
}


@pytest.fixture
def client():
    return boto3.client(
        "rekognition",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def labeler_for(client, **options):
    return RekognitionLabeler(client, LabelOptions(max_labels=25, min_confidence=70.0, **options))


def test_detect_labels_passes_the_object_by_reference(client):
    with Stubber(client) as stubber:
        stubber.add_response(
            "detect_labels",
            DOG_RESPONSE,
            expected_params={
                "Image": {"S3Object": {"Bucket": "photos", "Name": "pets/rex the dog.jpg"}},
                "MaxLabels": 25,
                "MinConfidence": 70.0,
            },
        )
        analysis = labeler_for(client).analyze("photos", "pets/rex the dog.jpg")
        stubber.assert_no_pending_responses()

    assert analysis.label_model_version == "3.0"
    assert analysis.labels == [
        {
            "name": "Dog",
            "confidence": 98.765,
            "parents": ["Animal", "Mammal", "Pet"],
            "aliases": ["Canine"],
            "categories": ["Animals and Pets"],
            "instances": [
                {
                    "confidence": 97.5,
                    "bounding_box": {"width": 0.5, "height": 0.6, "left": 0.1, "top": 0.2},
                }
            ],
        },
        {
            "name": "Grass",
            "confidence": 81.0,
            "parents": ["Plant"],
            "aliases": [],
            "categories": [],
            "instances": [],
        },
    ]
    assert analysis.text is None and analysis.faces is None and analysis.image_properties is None


def test_versioned_object_names_its_version(client):
    with Stubber(client) as stubber:
        stubber.add_response(
            "detect_labels",
            {"Labels": [], "LabelModelVersion": "3.0"},
            expected_params={
                "Image": {"S3Object": {"Bucket": "photos", "Name": "cat.png", "Version": "v-123"}},
                "MaxLabels": 25,
                "MinConfidence": 70.0,
            },
        )
        analysis = labeler_for(client).analyze("photos", "cat.png", version_id="v-123")
    assert analysis.labels == []


def test_every_optional_feature_makes_its_own_request(client):
    image = {"S3Object": {"Bucket": "photos", "Name": "street.jpg"}}
    with Stubber(client) as stubber:
        stubber.add_response(
            "detect_labels",
            {
                **DOG_RESPONSE,
                "ImageProperties": {
                    "Quality": {"Brightness": 60.5, "Sharpness": 80.25, "Contrast": 70.0},
                    "DominantColors": [
                        {
                            "HexCode": "#00ff00",
                            "CSSColor": "lime",
                            "SimplifiedColor": "green",
                            "PixelPercent": 42.5,
                        }
                    ],
                },
            },
            expected_params={
                "Image": image,
                "MaxLabels": 25,
                "MinConfidence": 70.0,
                "Features": ["GENERAL_LABELS", "IMAGE_PROPERTIES"],
            },
        )
        stubber.add_response(
            "detect_text",
            {
                "TextDetections": [
                    {"DetectedText": "STOP HERE", "Type": "LINE", "Id": 0, "Confidence": 99.5},
                    {
                        "DetectedText": "STOP",
                        "Type": "WORD",
                        "Id": 1,
                        "ParentId": 0,
                        "Confidence": 99.5,
                    },
                ]
            },
            expected_params={"Image": image},
        )
        stubber.add_response(
            "detect_moderation_labels",
            {"ModerationLabels": [{"Name": "Violence", "ParentName": "", "Confidence": 75.0}]},
            expected_params={"Image": image, "MinConfidence": 70.0},
        )
        stubber.add_response(
            "detect_faces",
            {
                "FaceDetails": [
                    {
                        "BoundingBox": {"Width": 0.1, "Height": 0.2, "Left": 0.3, "Top": 0.4},
                        "Confidence": 99.9,
                    }
                ]
            },
            expected_params={"Image": image, "Attributes": ["DEFAULT"]},
        )
        analysis = labeler_for(
            client, image_properties=True, text=True, moderation_labels=True, faces=True
        ).analyze("photos", "street.jpg")
        stubber.assert_no_pending_responses()

    assert analysis.image_properties == {
        "quality": {"brightness": 60.5, "sharpness": 80.25, "contrast": 70.0},
        "dominant_colors": [
            {
                "hex": "#00ff00",
                "css_color": "lime",
                "simplified_color": "green",
                "pixel_percent": 42.5,
            }
        ],
    }
    assert analysis.text == [{"text": "STOP HERE", "confidence": 99.5}]
    assert analysis.moderation_labels == [{"name": "Violence", "parent": None, "confidence": 75.0}]
    assert analysis.faces == [
        {"confidence": 99.9, "bounding_box": {"width": 0.1, "height": 0.2, "left": 0.3, "top": 0.4}}
    ]


@pytest.mark.parametrize(
    "code", ["InvalidImageFormatException", "ImageTooLargeException", "InvalidParameterException"]
)
def test_images_rekognition_refuses_are_unprocessable(client, code):
    with Stubber(client) as stubber:
        stubber.add_client_error("detect_labels", service_error_code=code, http_status_code=400)
        with pytest.raises(UnprocessableImage) as raised:
            labeler_for(client).analyze("photos", "fake.jpg")
    assert code in raised.value.reason


@pytest.mark.parametrize(
    "code", ["InvalidS3ObjectException", "AccessDeniedException", "ThrottlingException"]
)
def test_other_errors_propagate_so_the_message_is_retried(client, code):
    with Stubber(client) as stubber:
        stubber.add_client_error("detect_labels", service_error_code=code, http_status_code=400)
        with pytest.raises(Exception) as raised:
            labeler_for(client).analyze("photos", "cat.jpg")
    assert not isinstance(raised.value, UnprocessableImage)
    assert code in str(raised.value)


class ShapelessClient:
    """Answers detect_labels with a response botocore's model would not produce (a stand-in
    service, a future shape): the labeler must still return indexable labels."""

    def __init__(self, response):
        self.response = response

    def detect_labels(self, **request):
        return self.response


def test_labels_without_a_name_are_dropped_and_plain_string_names_are_taken():
    response = {
        "Labels": [
            {"Confidence": 99.0},
            {"Name": "", "Confidence": 98.0},
            "Dog",
            {"Name": "Cat", "Confidence": 90.0, "Categories": ["Animals", {"Name": "Pets"}, 7]},
        ]
    }
    analysis = labeler_for(ShapelessClient(response)).analyze("photos", "cat.jpg")
    assert [(label["name"], label["categories"]) for label in analysis.labels] == [
        ("Cat", ["Animals", "Pets"])
    ]


@pytest.mark.parametrize("confidence", [100.5, -1, float("nan"), float("inf")])
def test_a_confidence_outside_0_to_100_fails_the_image(confidence):
    response = {"Labels": [{"Name": "Dog", "Confidence": confidence}]}
    with pytest.raises(ValueError, match="not a number from 0 to 100"):
        labeler_for(ShapelessClient(response)).analyze("photos", "dog.jpg")
