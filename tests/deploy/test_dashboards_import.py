"""The saved-objects import request: path, headers, multipart body, SigV4 for AWS domains."""

from __future__ import annotations

import json

import boto3
import pytest
import requests

from localdev.aws import dashboards
from localdev.aws.__main__ import main
from localdev.aws.dashboards import SAVED_OBJECTS_PATH
from tests.deploy.fake_dashboards import running_fake_dashboards


def test_dashboards_command_imports_into_a_given_url(capsys):
    with running_fake_dashboards() as fake:
        assert main(["dashboards", "--url", fake.url]) == 0
    (request,) = fake.imports
    assert request.path == "/api/saved_objects/_import"
    assert request.query == {"overwrite": ["true"]}
    assert request.headers["osd-xsrf"] == "true"
    assert request.headers["kbn-xsrf"] == "true"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert request.filename == "image-label-search.ndjson"
    assert request.content == SAVED_OBJECTS_PATH.read_bytes()
    out = capsys.readouterr().out
    assert f"imported 6 saved objects into {fake.url}" in out
    assert f"{fake.url}/app/dashboards#/view/image-label-search-overview" in out


def test_import_reports_rejected_objects():
    with running_fake_dashboards() as fake, pytest.raises(dashboards.ImportFailed) as failure:
        dashboards.import_saved_objects(fake.url, "us-east-1", ndjson=b'{"id": "x"}\n')
    assert "import reported errors" in str(failure.value)
    assert "'line': 1" in str(failure.value)


def test_import_reports_http_errors():
    with running_fake_dashboards() as fake, pytest.raises(dashboards.ImportFailed) as failure:
        dashboards.import_saved_objects(fake.url + "/_plugin/kibana", "us-east-1")
    assert "answered 404" in str(failure.value)


def test_domain_urls_by_engine():
    endpoint = "https://search-x.us-east-1.es.amazonaws.com"
    assert dashboards.base_url_for_domain(endpoint, "OpenSearch_2.19") == endpoint + "/_dashboards"
    assert (
        dashboards.base_url_for_domain(endpoint, "Elasticsearch_7.10")
        == endpoint + "/_plugin/kibana"
    )


def test_aws_domains_are_signed_with_sigv4(monkeypatch):
    """Requests to *.amazonaws.com carry a SigV4 signature for service es over the body."""
    sent = {}

    def fake_post(url, **kwargs):
        request = requests.Request(
            "POST", url, **{k: kwargs[k] for k in ("params", "headers", "files")}
        )
        prepared = kwargs["auth"](request.prepare())
        sent["prepared"] = prepared
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps({"success": True, "successCount": 6}).encode()
        return response

    monkeypatch.setattr(dashboards.requests, "post", fake_post)
    session = boto3.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="eu-west-1"
    )
    base = "https://search-images-abc.eu-west-1.es.amazonaws.com/_dashboards"
    result = dashboards.import_saved_objects(base, "eu-west-1", session)
    prepared = sent["prepared"]
    authorization = prepared.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/es/aws4_request" in authorization
    assert prepared.url == base + "/api/saved_objects/_import?overwrite=true"
    assert result.success_count == 6
