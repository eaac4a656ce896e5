"""infra/template.yaml's enumerated and bounded values, checked against AWS's own service models.

cfn-lint 1.58 accepts `VolumeType: gp4`, a misspelled TLSSecurityPolicy and misspelled S3 event
names, and moto's CloudFormation skips the domain and the queue policy, so such a typo would first
fail in a real account (after the 15-30 minute wait for the domain). botocore ships the service
models the SDKs are generated from; their enums and patterns are what the APIs accept. Where a
model has no bound (SQS attributes are a string map, log retention is a plain integer), the value
list comes from the API documentation cited in the row.

A `Ref` to a parameter is checked at every value the parameter admits: its Default, each
AllowedValues entry, MinValue and MaxValue; a parameter behind a bounded property must be bounded,
and an AllowedPattern must agree with the model's pattern on the examples given.

The last tests check the domain's hardening (error logs, TLS policy, software updates, zone
awareness), which no moto deployment can show.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.session
import pytest
from cfnlint.decode import decode_str

from localdev.aws.stack import TEMPLATE_PATH

MODELS = botocore.session.get_session()
OPENSEARCH = MODELS.get_service_model("opensearch")
S3 = MODELS.get_service_model("s3")
LOGS = MODELS.get_service_model("logs")
CLOUDWATCH = MODELS.get_service_model("cloudwatch")
# SNS Subscribe's Protocol is a plain string; its documentation lists each one as <code>name</code>.
SNS_PROTOCOLS = tuple(
    re.findall(
        r"<li> <p> <code>([a-z-]+)</code>",
        MODELS.get_service_model("sns")
        .operation_model("Subscribe")
        .input_shape.members["Protocol"]
        .documentation,
    )
)

# CloudWatch Logs PutRetentionPolicy: "Possible values are: 1, 3, 5, ... 3653" (the `Days`
# shape's documentation; the model has no enum for it).
DOCUMENTED_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip


@dataclass(frozen=True)
class Problem:
    where: str  # logical id and property path, e.g. "SearchDomain.EBSOptions.VolumeType"
    message: str


@dataclass(frozen=True)
class OneOf:
    allowed: tuple[Any, ...]
    source: str

    def problem(self, value: Any) -> str | None:
        if str(value) not in {str(a) for a in self.allowed}:
            return f"{value!r} is not one of {self.source}"
        return None

    def parameter_problem(self, name: str, parameter: dict) -> str | None:
        return None


@dataclass(frozen=True)
class Range:
    low: int
    high: int
    source: str

    def problem(self, value: Any) -> str | None:
        try:
            number = int(value)
        except (TypeError, ValueError):
            return f"{value!r} is not an integer ({self.source})"
        if not self.low <= number <= self.high:
            return f"{number} is outside {self.low}..{self.high} ({self.source})"
        return None

    def parameter_problem(self, name: str, parameter: dict) -> str | None:
        bounded = "AllowedValues" in parameter or {"MinValue", "MaxValue"} <= set(parameter)
        return None if bounded else f"parameter {name} needs MinValue and MaxValue ({self.source})"


@dataclass(frozen=True)
class Pattern:
    regex: str
    min_length: int
    max_length: int
    source: str
    # Values the service takes, and look-alikes it refuses: a parameter's AllowedPattern must
    # accept the first and refuse the second.
    accepted: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        text = str(value)
        if not self.min_length <= len(text) <= self.max_length or not re.search(self.regex, text):
            return f"{text!r} does not match {self.source} {self.regex!r}"
        return None

    def parameter_problem(self, name: str, parameter: dict) -> str | None:
        allowed = parameter.get("AllowedPattern")
        if allowed is None:
            return f"parameter {name} needs an AllowedPattern ({self.source})"
        # CloudFormation matches an AllowedPattern against the whole value.
        wrong = [v for v in self.accepted if not re.fullmatch(allowed, v)]
        wrong += [v for v in self.refused if re.fullmatch(allowed, v)]
        if wrong:
            return f"parameter {name}'s AllowedPattern disagrees with {self.source} on {wrong}"
        return None


Validator = OneOf | Range | Pattern


def enum(model, shape: str) -> OneOf:
    return OneOf(tuple(model.shape_for(shape).enum), f"{model.service_name} {shape}")


def model_pattern(model, shape: str, accepted: tuple[str, ...], refused: tuple[str, ...]):
    meta = model.shape_for(shape).metadata
    source = f"{model.service_name} {shape}"
    return Pattern(meta["pattern"], meta["min"], meta["max"], source, accepted, refused)


@dataclass(frozen=True)
class Row:
    resource_type: str
    # Dotted path below Properties: "*" is every item of a list or value of a map, "~" every key.
    path: str
    validator: Validator


ROWS = [
    Row(
        "AWS::OpenSearchService::Domain",
        "DomainEndpointOptions.TLSSecurityPolicy",
        enum(OPENSEARCH, "TLSSecurityPolicy"),
    ),
    Row("AWS::OpenSearchService::Domain", "EBSOptions.VolumeType", enum(OPENSEARCH, "VolumeType")),
    Row(
        "AWS::OpenSearchService::Domain",
        "ClusterConfig.InstanceType",
        enum(OPENSEARCH, "OpenSearchPartitionInstanceType"),
    ),
    Row(
        "AWS::OpenSearchService::Domain",
        "EngineVersion",
        model_pattern(
            OPENSEARCH,
            "VersionString",
            accepted=(
                "OpenSearch_2.19",
                "OpenSearch_1.3",
                "OpenSearch_3.1",
                "Elasticsearch_7.10",
                "Elasticsearch_6.8",
            ),
            refused=("OpenSearch-2.19", "opensearch_2.19", "OpenSearch_2", "Elasticsearch_10.1"),
        ),
    ),
    Row("AWS::OpenSearchService::Domain", "LogPublishingOptions.~", enum(OPENSEARCH, "LogType")),
    Row(
        "AWS::OpenSearchService::Domain",
        "ClusterConfig.ZoneAwarenessConfig.AvailabilityZoneCount",
        # ZoneAwarenessConfig documentation: "Valid values are 2 and 3."
        OneOf((2, 3), "the documented zone counts"),
    ),
    Row("AWS::S3::Bucket", "NotificationConfiguration.*.*.Event", enum(S3, "Event")),
    # SQS SetQueueAttributes documentation (the model's Attributes is a string map).
    Row("AWS::SQS::Queue", "VisibilityTimeout", Range(0, 43200, "SQS VisibilityTimeout")),
    Row("AWS::SQS::Queue", "MessageRetentionPeriod", Range(60, 1209600, "SQS retention")),
    # SQS Developer Guide, dead-letter queues: maxReceiveCount is 1 to 1,000.
    Row("AWS::SQS::Queue", "RedrivePolicy.maxReceiveCount", Range(1, 1000, "SQS maxReceiveCount")),
    Row(
        "AWS::Logs::LogGroup",
        "RetentionInDays",
        OneOf(
            tuple(LOGS.shape_for("Days").metadata.get("enum", DOCUMENTED_RETENTION_DAYS)),
            "CloudWatch Logs retention days",
        ),
    ),
    # The alarms (tests/deploy/test_alarms.py checks their property names and replays them).
    Row("AWS::CloudWatch::Alarm", "ComparisonOperator", enum(CLOUDWATCH, "ComparisonOperator")),
    Row("AWS::CloudWatch::Alarm", "Statistic", enum(CLOUDWATCH, "Statistic")),
    Row(
        "AWS::CloudWatch::Alarm",
        "Namespace",
        model_pattern(CLOUDWATCH, "Namespace", accepted=("AWS/SQS",), refused=(":AWS/SQS",)),
    ),
    # PutMetricAlarm's TreatMissingData documentation (the model's shape is a plain string).
    Row(
        "AWS::CloudWatch::Alarm",
        "TreatMissingData",
        OneOf(("breaching", "notBreaching", "ignore", "missing"), "CloudWatch TreatMissingData"),
    ),
    Row(
        "AWS::SNS::Topic", "Subscription.*.Protocol", OneOf(SNS_PROTOCOLS, "SNS Subscribe Protocol")
    ),
]


def _is_if(node: Any) -> bool:
    return isinstance(node, dict) and list(node) == ["Fn::If"]


def _walk(node: Any, steps: list[str], where: str) -> Iterator[tuple[str, Any]]:
    """Yields (where, value) for every value the path reaches, through both branches of Fn::If."""
    if _is_if(node):
        for branch in node["Fn::If"][1:]:
            yield from _walk(branch, steps, where)
        return
    if not steps:
        yield where, node
        return
    step, rest = steps[0], steps[1:]
    if step == "~" and isinstance(node, dict):
        for key in node:
            yield f"{where}.{key}", key
    elif step == "*" and isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, rest, f"{where}.{key}")
    elif step == "*" and isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, rest, f"{where}[{index}]")
    elif isinstance(node, dict) and step in node:
        yield from _walk(node[step], rest, f"{where}.{step}")


def _candidates(name: str, parameter: dict) -> Iterator[tuple[str, Any]]:
    """Every value a parameter admits that CloudFormation states: Default, AllowedValues, bounds."""
    if "Default" in parameter:
        yield f"{name}.Default", parameter["Default"]
    for index, value in enumerate(parameter.get("AllowedValues", [])):
        yield f"{name}.AllowedValues[{index}]", value
    for bound in ("MinValue", "MaxValue"):
        if bound in parameter:
            yield f"{name}.{bound}", parameter[bound]


def _value_problems(template: dict, value: Any, validator: Validator) -> Iterator[str]:
    if isinstance(value, dict) and list(value) == ["Ref"]:
        name = value["Ref"]
        if name == "AWS::NoValue":
            return
        parameter = template.get("Parameters", {}).get(name)
        if parameter is None:
            yield f"Ref {name} is not a parameter: the value cannot be checked"
            return
        if message := validator.parameter_problem(name, parameter):
            yield message
        for source, candidate in _candidates(name, parameter):
            if message := validator.problem(candidate):
                yield f"{source}: {message}"
    elif isinstance(value, dict | list):
        yield f"{value!r} cannot be checked; use a literal or a Ref to a parameter"
    elif message := validator.problem(value):
        yield message


def problems(template: dict) -> list[Problem]:
    found = []
    for logical_id, resource in template["Resources"].items():
        for row in ROWS:
            if resource.get("Type") != row.resource_type:
                continue
            properties = resource.get("Properties", {})
            for where, value in _walk(properties, row.path.split("."), logical_id):
                found += [
                    Problem(where, message)
                    for message in _value_problems(template, value, row.validator)
                ]
    return found


def _load() -> dict:
    parsed, errors = decode_str(TEMPLATE_PATH.read_text())
    assert errors == []
    return parsed


@pytest.fixture(scope="module")
def loaded():
    return _load()


@pytest.fixture
def template(loaded):
    """A copy each test may change."""
    return copy.deepcopy(loaded)


def test_the_template_takes_only_values_the_apis_accept(template):
    assert problems(template) == []


def test_every_row_reaches_a_value_in_the_template(template):
    """A misspelt path would check nothing and pass: each row must find what it checks."""
    reached = {
        row.path: sum(
            1
            for resource in template["Resources"].values()
            if resource["Type"] == row.resource_type
            for _ in _walk(resource.get("Properties", {}), row.path.split("."), "")
        )
        for row in ROWS
    }
    assert all(reached.values()), reached


def test_documented_retention_days_are_the_models_list():
    """The fallback list is the one the model documents (it fails when AWS adds a value)."""
    documentation = LOGS.shape_for("Days").documentation
    listed = documentation.split("Possible values are:")[1].split(".")[0]
    assert tuple(int(n) for n in re.findall(r"\d+", listed)) == DOCUMENTED_RETENTION_DAYS


def test_version_examples_agree_with_the_model():
    (row,) = [row for row in ROWS if row.path == "EngineVersion"]
    assert [row.validator.problem(v) for v in row.validator.accepted] == [None] * 5
    assert all(row.validator.problem(v) for v in row.validator.refused)


@pytest.mark.parametrize(
    "version", ["Elasticsearch_5.6", "Elasticsearch_6.4", "Elasticsearch_8.11", "OpenSearch_4.0"]
)
def test_engine_versions_the_store_refuses_are_refused_at_deploy(version):
    """AWS offers them (the model's pattern matches), but the store's engine check
    (chalicelib/store/engine.py) would refuse them at the first request."""
    (row,) = [row for row in ROWS if row.path == "EngineVersion"]
    assert row.validator.problem(version) is None
    pattern = decode_str(TEMPLATE_PATH.read_text())[0]["Parameters"]["EngineVersion"]
    assert not re.fullmatch(pattern["AllowedPattern"], version)


def _set(template: dict, path: str, value: Any) -> None:
    """Sets template[a][b]...; digits index lists, a `-` prefix deletes the key."""
    *parents, last = path.split(".")
    node = template
    for step in parents:
        node = node[int(step)] if isinstance(node, list) else node[step]
    if last.startswith("-"):
        del node[last[1:]]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _rename_key(template: dict, path: str, old: str, new: str) -> None:
    node = template
    for step in path.split("."):
        node = node[step]
    node[new] = node.pop(old)


DOMAIN = "Resources.SearchDomain.Properties"
PARAMS = "Parameters"

BROKEN = [
    pytest.param(
        f"{DOMAIN}.DomainEndpointOptions.TLSSecurityPolicy",
        "Policy-Min-TLS-1-2-2019-7",
        "SearchDomain.DomainEndpointOptions.TLSSecurityPolicy",
        id="tls-policy-typo",
    ),
    pytest.param(
        f"{DOMAIN}.EBSOptions.VolumeType", "gp4", "SearchDomain.EBSOptions.VolumeType", id="gp4"
    ),
    pytest.param(
        f"{PARAMS}.SearchInstanceType.Default",
        "t3.small.elasticsearch",
        "SearchDomain.ClusterConfig.InstanceType",
        id="instance-type-default",
    ),
    pytest.param(
        f"{PARAMS}.EngineVersion.Default",
        "OpenSearch-2.19",
        "SearchDomain.EngineVersion",
        id="engine-version-default",
    ),
    pytest.param(
        f"{PARAMS}.EngineVersion.AllowedPattern",
        "^(OpenSearch|Elasticsearch)_[0-9]+\\.[0-9]+$",
        "SearchDomain.EngineVersion",
        id="engine-pattern-too-loose",
    ),
    pytest.param(
        f"{PARAMS}.EngineVersion.AllowedPattern",
        "^OpenSearch_[0-9]\\.[0-9]+$",
        "SearchDomain.EngineVersion",
        id="engine-pattern-refuses-elasticsearch",
    ),
    pytest.param(
        f"{DOMAIN}.EngineVersion", "OpenSearch_2.x", "SearchDomain.EngineVersion", id="engine-lit"
    ),
    pytest.param(
        f"{DOMAIN}.ClusterConfig.ZoneAwarenessConfig.Fn::If.1.AvailabilityZoneCount",
        4,
        "SearchDomain.ClusterConfig.ZoneAwarenessConfig.AvailabilityZoneCount",
        id="four-zones",
    ),
    pytest.param(
        "Resources.ImageBucket.Properties.NotificationConfiguration.QueueConfigurations.0.Event",
        "s3:ObjectCreated:Putt",
        "ImageBucket.NotificationConfiguration.QueueConfigurations[0].Event",
        id="s3-event-typo",
    ),
    pytest.param(
        "Resources.UploadQueue.Properties.VisibilityTimeout",
        50000,
        "UploadQueue.VisibilityTimeout",
        id="visibility-literal",
    ),
    pytest.param(
        f"{PARAMS}.QueueVisibilityTimeout.MaxValue",
        50000,
        "UploadQueue.VisibilityTimeout",
        id="visibility-parameter-max",
    ),
    pytest.param(
        f"{PARAMS}.QueueVisibilityTimeout.-MaxValue",
        None,
        "UploadQueue.VisibilityTimeout",
        id="visibility-parameter-unbounded",
    ),
    pytest.param(
        "Resources.DeadLetterQueue.Properties.MessageRetentionPeriod",
        30,
        "DeadLetterQueue.MessageRetentionPeriod",
        id="retention-below-a-minute",
    ),
    pytest.param(
        f"{PARAMS}.QueueRetentionSeconds.Default",
        1209601,
        "UploadQueue.MessageRetentionPeriod",
        id="retention-over-14-days",
    ),
    pytest.param(
        f"{PARAMS}.MaxReceiveCount.MinValue",
        0,
        "UploadQueue.RedrivePolicy.maxReceiveCount",
        id="max-receive-zero",
    ),
    pytest.param(
        "Resources.SearchLogGroup.Properties.RetentionInDays",
        2,
        "SearchLogGroup.RetentionInDays",
        id="log-retention-2-days",
    ),
    pytest.param(
        "Resources.DeadLetterAlarm.Properties.TreatMissingData",
        "notbreaching",
        "DeadLetterAlarm.TreatMissingData",
        id="treat-missing-data-case",
    ),
    pytest.param(
        "Resources.IndexerErrorsAlarm.Properties.Statistic",
        "Total",
        "IndexerErrorsAlarm.Statistic",
        id="alarm-statistic",
    ),
    pytest.param(
        "Resources.AlarmTopic.Properties.Subscription.0.Protocol",
        "e-mail",
        "AlarmTopic.Subscription[0].Protocol",
        id="sns-protocol",
    ),
    pytest.param(
        "Resources.SearchDomain.Properties.EBSOptions.VolumeType",
        {"Fn::Sub": "gp${AWS::NoValue}"},
        "SearchDomain.EBSOptions.VolumeType",
        id="unresolvable-intrinsic",
    ),
]


@pytest.mark.parametrize(("path", "value", "reported"), BROKEN)
def test_each_broken_value_is_reported_at_its_property(template, path, value, reported):
    _set(template, path, value)
    assert [problem.where for problem in problems(template)] == [reported]


def test_a_misspelt_log_type_is_reported(template):
    _rename_key(template, DOMAIN + ".LogPublishingOptions", "ES_APPLICATION_LOGS", "ERROR_LOGS")
    assert [p.where for p in problems(template)] == ["SearchDomain.LogPublishingOptions.ERROR_LOGS"]


def test_a_bad_allowed_value_is_reported_at_every_log_group_using_it(template):
    template["Parameters"]["LogRetentionDays"]["AllowedValues"].append(700)
    users = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup"
    ]
    found = problems(template)
    assert [p.where for p in found] == [f"{name}.RetentionInDays" for name in users]
    assert all(p.message.startswith("LogRetentionDays.AllowedValues[10]: 700 ") for p in found)


# The domain's hardening (issue 9, item 8). moto's CloudFormation skips the domain, so its
# properties are checked here, on the template.


def test_domain_publishes_error_logs_to_its_own_log_group(template):
    resources = template["Resources"]
    domain = resources["SearchDomain"]
    assert domain["Properties"]["LogPublishingOptions"] == {
        "ES_APPLICATION_LOGS": {
            "Enabled": True,
            "CloudWatchLogsLogGroupArn": {"Fn::GetAtt": ["SearchLogGroup", "Arn"]},
        }
    }
    group = resources["SearchLogGroup"]
    assert group["Condition"] == domain["Condition"] == "CreateDomain"
    assert group["DeletionPolicy"] == "Delete"
    assert group["Properties"] == {
        "LogGroupName": {"Fn::Sub": "/aws/opensearch/${SearchDomainName}/application"},
        "RetentionInDays": {"Ref": "LogRetentionDays"},
    }
    # OpenSearch validates the log group's resource policy when logging is enabled.
    assert domain["DependsOn"] == "SearchLogsPolicy"


def test_log_policy_lets_only_this_domain_write_only_to_that_group(template):
    policy = template["Resources"]["SearchLogsPolicy"]
    assert policy["Condition"] == "CreateDomain"
    assert policy["Properties"]["PolicyName"] == {"Fn::Sub": "${AppName}-${Stage}-opensearch-logs"}
    # The document is a JSON string with ${...} placeholders: fill them in to read it.
    names = {
        "AWS::Partition": "aws",
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "SearchLogGroup": "/aws/opensearch/ils-dev/application",
        "SearchDomainName": "ils-dev",
    }
    text = policy["Properties"]["PolicyDocument"]["Fn::Sub"]
    (statement,) = json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: names[m[1]], text))["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "es.amazonaws.com"}
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == (
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/opensearch/ils-dev/application:*"
    )
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:es:us-east-1:123456789012:domain/ils-dev"},
    }


def test_domain_tls_and_software_updates(template):
    props = template["Resources"]["SearchDomain"]["Properties"]
    assert props["DomainEndpointOptions"] == {
        "EnforceHTTPS": True,
        "TLSSecurityPolicy": "Policy-Min-TLS-1-2-PFS-2023-10",
    }
    assert props["SoftwareUpdateOptions"] == {"AutoSoftwareUpdateEnabled": True}
    assert props["OffPeakWindowOptions"] == {"Enabled": True}


def test_zone_awareness_is_a_choice_that_needs_an_even_node_count(template):
    params = template["Parameters"]
    cluster = template["Resources"]["SearchDomain"]["Properties"]["ClusterConfig"]
    assert params["SearchZoneAwareness"]["AllowedValues"] == ["true", "false"]
    assert params["SearchZoneAwareness"]["Default"] == "false"
    assert template["Conditions"]["ZoneAware"] == {
        "Fn::Equals": [{"Ref": "SearchZoneAwareness"}, "true"]
    }
    assert cluster["ZoneAwarenessEnabled"] == {"Fn::If": ["ZoneAware", True, False]}
    assert cluster["ZoneAwarenessConfig"] == {
        "Fn::If": ["ZoneAware", {"AvailabilityZoneCount": 2}, {"Ref": "AWS::NoValue"}]
    }
    rule = template["Rules"]["EvenNodesWhenZoneAware"]
    assert rule["RuleCondition"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "ExistingSearchEndpoint"}, ""]},
            {"Fn::Equals": [{"Ref": "SearchZoneAwareness"}, "true"]},
        ]
    }
    ((even, count),) = [a["Assert"]["Fn::Contains"] for a in rule["Assertions"]]
    assert count == {"Ref": "SearchInstanceCount"}
    # The list is every even count the parameter admits, no more and no fewer.
    counts = params["SearchInstanceCount"]
    admitted = range(counts["MinValue"], counts["MaxValue"] + 1)
    assert even == [str(n) for n in admitted if n % 2 == 0]
