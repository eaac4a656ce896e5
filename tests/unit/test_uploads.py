import base64
import json

import boto3
import pytest

from chalicelib.api.params import InvalidParameter
from chalicelib.api.uploads import UploadForms


@pytest.fixture
def forms():
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="secret",
    )
    return UploadForms(s3, "photos", "uploads/", expiry_seconds=300)


def test_a_form_for_one_fresh_safe_key(forms):
    form = forms.form_for(b'{"filename": "../My Holiday (1).JPG", "content_type": "image/jpeg"}')
    assert form["bucket"] == "photos"
    assert form["key"].startswith("uploads/") and form["key"].endswith("-My-Holiday-1.jpg")
    assert ".." not in form["key"]
    assert form["fields"]["key"] == form["key"]
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert {"Content-Type": "image/jpeg"} in policy["conditions"]
    assert ["content-length-range", 1, 15 * 1024 * 1024] in policy["conditions"]
    second = forms.form_for(b'{"filename": "../My Holiday (1).JPG", "content_type": "image/jpeg"}')
    assert second["key"] != form["key"]


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (b"not json", "body"),
        (b"[]", "body"),
        (None, "body"),
        (b'{"filename": "a.gif", "content_type": "image/gif"}', "content_type"),
        (b'{"filename": "", "content_type": "image/png"}', "filename"),
        (b'{"content_type": "image/png"}', "filename"),
    ],
)
def test_bad_requests_name_the_problem(forms, body, parameter):
    with pytest.raises(InvalidParameter) as raised:
        forms.form_for(body)
    assert raised.value.parameter == parameter
