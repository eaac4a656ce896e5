import base64
import json

import boto3
import pytest

from chalicelib.api.errors import InvalidParameter
from chalicelib.api.http import request_body
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
        # Unhashable content types were a TypeError (a 500) before they were checked as strings.
        (b'{"filename": "a.png", "content_type": ["image/png"]}', "content_type"),
        (b'{"filename": "a.png", "content_type": {"image/png": 1}}', "content_type"),
        (b'{"filename": "a.png", "content_type": null}', "content_type"),
        (b'{"filename": ["a.png"], "content_type": "image/png"}', "filename"),
        # Nesting past Python's recursion limit was a RecursionError, and so a 500.
        (b"[" * 2000 + b"]" * 2000, "body"),
        (b'{"a":' * 1000 + b"1" + b"}" * 1000, "body"),
        (
            b'{"filename": "a.png", "content_type": "image/png", "pad": "' + b"x" * 5000 + b'"}',
            "body",
        ),
        (b"\xff\xfe not utf-8", "body"),
    ],
)
def test_bad_requests_name_the_problem(forms, body, parameter):
    with pytest.raises(InvalidParameter) as raised:
        forms.form_for(body)
    assert raised.value.parameter == parameter


class SurrogateBody:
    """A request whose body is a str with a lone surrogate, as a JSON Lambda event can carry."""

    @property
    def raw_body(self):
        return "\ud800".encode()


def test_a_body_that_is_not_utf8_text_is_a_400_naming_the_body():
    with pytest.raises(InvalidParameter) as raised:
        request_body(SurrogateBody())
    assert raised.value.parameter == "body"
