"""The stage's CloudWatch alarms (infra/template.yaml), their optional e-mail topic, and how
``status`` shows their states.

moto 5.2.5's CloudFormation has no AWS::CloudWatch::Alarm (nor AWS::SNS::TopicPolicy): it skips
them with a warning. So the alarms are checked on the template against botocore's CloudWatch
model, then replayed into the moto server as the PutMetricAlarm calls CloudFormation makes (same
member names; botocore validates each request against the model before sending it), and
``status`` reads them back with DescribeAlarms, which moto implements. moto's CloudFormation
does create the SNS topic with its inline e-mail subscription.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import botocore.exceptions
import botocore.session
import pytest
from cfnlint.decode import decode_str

from chalicelib import metrics
from localdev.aws import deploy, preflight, status
from localdev.aws.context import Context
from localdev.aws.discovery import StageNames
from localdev.aws.stack import TEMPLATE_PATH, Waiting, stack_name

APP, STAGE, ACCOUNT, REGION = "image-label-search", "dev", "123456789012", "us-east-1"
ENDPOINT = "http://127.0.0.1:9"  # an existing cluster: neither plan nor preflight calls it
CLOUDWATCH = botocore.session.get_session().get_service_model("cloudwatch")
PUT_METRIC_ALARM = CLOUDWATCH.operation_model("PutMetricAlarm").input_shape
DIMENSION = CLOUDWATCH.shape_for("Dimension")
# The metrics each namespace publishes: SQS Developer Guide, "Available CloudWatch metrics for
# Amazon SQS"; Lambda Developer Guide, "Types of metrics for Lambda functions" (invocation and
# concurrency metrics). CloudWatch accepts an alarm on any name, so a typo would never fire.
DOCUMENTED_METRICS = {
    "AWS/SQS": {
        "ApproximateAgeOfOldestMessage",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesVisible",
        "NumberOfEmptyReceives",
        "NumberOfMessagesDeleted",
        "NumberOfMessagesReceived",
        "NumberOfMessagesSent",
        "SentMessageSize",
    },
    "AWS/Lambda": {
        "Invocations",
        "Errors",
        "DeadLetterErrors",
        "Throttles",
        "Duration",
        "ConcurrentExecutions",
    },
    # The indexer's own EMF metrics (chalicelib/metrics.py).
    metrics.NAMESPACE: {metric.name for metric in metrics.METRICS},
}
DOCUMENTED_DIMENSIONS = {
    "AWS/SQS": {"QueueName"},
    "AWS/Lambda": {"FunctionName"},
    metrics.NAMESPACE: {metrics.STAGE_DIMENSION},
}
ONE_DAY = 86_400  # PutMetricAlarm: Period x EvaluationPeriods may not exceed one day


@pytest.fixture(scope="module")
def template() -> dict:
    parsed, errors = decode_str(TEMPLATE_PATH.read_text())
    assert errors == []
    return parsed


def alarms_of(template: dict) -> dict[str, dict]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def resolve(node: Any, template: dict, values: dict[str, Any]) -> Any:
    """The value CloudFormation would pass, for the intrinsics the alarms use."""
    if isinstance(node, list):
        return [v for v in (resolve(item, template, values) for item in node) if v is not None]
    if not isinstance(node, dict):
        return node
    if "Fn::Sub" in node:
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(values[m.group(1)]), node["Fn::Sub"])
    if "Fn::GetAtt" in node:
        logical_id, attribute = node["Fn::GetAtt"]
        assert attribute == "QueueName", node
        return resolve(
            template["Resources"][logical_id]["Properties"]["QueueName"], template, values
        )
    if "Ref" in node:
        name = node["Ref"]
        if name == "AWS::NoValue":
            return None
        return values[name] if name in values else template["Parameters"][name]["Default"]
    if "Fn::If" in node:
        condition, when_true, when_false = node["Fn::If"]
        return resolve(when_true if values[condition] else when_false, template, values)
    resolved = {key: resolve(value, template, values) for key, value in node.items()}
    return {key: value for key, value in resolved.items() if value is not None}


def stage_values(email: bool, stage: str = STAGE) -> dict[str, Any]:
    return {
        "AppName": APP,
        "Stage": stage,
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "HasAlarmEmail": email,
        "AlarmTopic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{APP}-{stage}-alarms",
    }


def put_requests(template: dict, email: bool, stage: str = STAGE) -> list[dict]:
    values = stage_values(email, stage)
    return [resolve(alarm, template, values) for alarm in alarms_of(template).values()]


# -- the template ----------------------------------------------------------------------------------


def test_the_alarms_the_issue_asks_for(template):
    watched = {
        (request["Namespace"], request["MetricName"], request["Dimensions"][0]["Value"])
        for request in put_requests(template, email=False)
    }
    names = StageNames(APP, STAGE, "aws", REGION)
    assert watched == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", f"{APP}-{STAGE}-uploads-dlq"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", f"{APP}-{STAGE}-uploads"),
        # The names deploy and chalice give the functions (localdev/aws/discovery.py).
        ("AWS/Lambda", "Errors", names.index_function),
        ("AWS/Lambda", "Throttles", names.index_function),
        ("AWS/Lambda", "Errors", names.api_function),
        ("AWS/Lambda", "Throttles", names.api_function),
        ("ImageLabelSearch", "Throttled", STAGE),
    }


def test_the_throttled_alarm_waits_for_three_periods_in_a_row(template):
    throttled = alarms_of(template)["RekognitionThrottledAlarm"]
    # A flood's throttles pass; 15 minutes of them do not (DatapointsToAlarm defaults to all).
    assert (throttled["Statistic"], throttled["Period"], throttled["EvaluationPeriods"]) == (
        "Sum",
        300,
        3,
    )
    assert "DatapointsToAlarm" not in throttled
    assert (throttled["Threshold"], throttled["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert throttled["Dimensions"] == [{"Name": "Stage", "Value": {"Ref": "Stage"}}]


def test_the_dead_letter_alarm_fires_on_the_first_message(template):
    dead_letters = alarms_of(template)["DeadLetterAlarm"]
    assert (dead_letters["Threshold"], dead_letters["ComparisonOperator"]) == (
        0,
        "GreaterThanThreshold",
    )
    assert (dead_letters["Statistic"], dead_letters["EvaluationPeriods"]) == ("Maximum", 1)
    # SQS stops publishing an inactive queue's metrics: missing data keeps the alarm's state.
    assert dead_letters["TreatMissingData"] == "ignore"


def test_the_api_errors_alarm_describes_the_api_not_the_indexer(template):
    description = alarms_of(template)["ApiErrorsAlarm"]["AlarmDescription"]
    assert "message" not in description and "HTTP 500 response" in description


def test_every_property_is_a_put_metric_alarm_member_with_a_valid_value(template):
    for logical_id, alarm in alarms_of(template).items():
        assert set(alarm) <= set(PUT_METRIC_ALARM.members), logical_id
        for dimension in alarm["Dimensions"]:
            assert set(dimension) == set(DIMENSION.members), logical_id
        # "Valid values are 10, 20, 30, and any multiple of 60" (PutMetricAlarm, Period).
        period = alarm["Period"]
        assert period in (10, 20, 30) or period % 60 == 0, logical_id
        assert period * alarm["EvaluationPeriods"] <= ONE_DAY, logical_id
        namespace = alarm["Namespace"]
        assert alarm["MetricName"] in DOCUMENTED_METRICS[namespace], logical_id
        assert {d["Name"] for d in alarm["Dimensions"]} <= DOCUMENTED_DIMENSIONS[namespace]
        assert alarm["AlarmName"]["Fn::Sub"].startswith("${AppName}-${Stage}-"), logical_id


def test_alarms_notify_the_topic_only_when_an_address_is_given(template):
    notify = {"Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]}
    for logical_id, alarm in alarms_of(template).items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == notify, logical_id
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    resources = template["Resources"]
    assert resources["AlarmTopic"]["Condition"] == "HasAlarmEmail"
    assert resources["AlarmTopicPolicy"]["Condition"] == "HasAlarmEmail"
    assert template["Outputs"]["AlarmTopicArn"]["Condition"] == "HasAlarmEmail"
    assert resources["AlarmTopic"]["Properties"]["Subscription"] == [
        {"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}
    ]
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""


def test_only_this_stages_alarms_may_publish_to_the_topic(template):
    values = stage_values(email=True)
    policy = resolve(template["Resources"]["AlarmTopicPolicy"]["Properties"], template, values)
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert (statement["Effect"], statement["Action"]) == ("Allow", "sns:Publish")
    assert statement["Resource"] == values["AlarmTopic"]
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{APP}-dev-*"},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }


ADDRESSES = {
    "ops@example.com": True,
    "first.last+alarms@mail.example.co.uk": True,
    "ops@example": False,
    "ops example.com": False,
    "ops@@example.com": False,
}


@pytest.mark.parametrize(("address", "valid"), list(ADDRESSES.items()))
def test_preflight_and_the_template_agree_on_an_address(template, address, valid):
    pattern = template["Parameters"]["AlarmEmail"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, address)) is valid
    report = preflight.Report()
    inputs = preflight.Inputs(
        stack=None,
        bucket="b",
        admin_arns=[],
        creates_domain=False,
        uses_aws_domain=False,
        api_auth="iam",
        uploads=False,
        alarm_email=address,
    )
    preflight.check_alarm_email(None, inputs, report)
    assert report.ok is valid
    if not valid:
        [problem] = report.problems
        assert problem.setting == "--alarm-email" and address in problem.message


def test_no_address_is_no_problem_and_no_topic(template):
    report = preflight.Report()
    inputs = preflight.Inputs(None, "b", [], False, False, "iam", False)
    preflight.check_alarm_email(None, inputs, report)
    assert report.ok
    assert re.fullmatch(template["Parameters"]["AlarmEmail"]["AllowedPattern"], "")


# -- against the moto server ----------------------------------------------------------------------


def stack_parameters(email: str) -> list[dict]:
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    return [
        {"ParameterKey": key, "ParameterValue": value}
        for key, value in {
            "AppName": APP,
            "Stage": STAGE,
            "BucketName": f"{APP}-{STAGE}-{ACCOUNT}",
            "IndexerPolicyDocument": policy,
            "ApiPolicyDocument": policy,
            "ExistingSearchEndpoint": "https://search.example.com",
            "AlarmEmail": email,
        }.items()
    ]


@pytest.mark.parametrize("email", ["ops@example.com", ""])
def test_moto_creates_the_topic_and_its_subscription_only_with_an_address(aws, email):
    cfn, sns = aws.client("cloudformation"), aws.client("sns")
    cfn.create_stack(
        StackName=stack_name(APP, STAGE),
        TemplateBody=TEMPLATE_PATH.read_text(),
        Parameters=stack_parameters(email),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    [described] = cfn.describe_stacks(StackName=stack_name(APP, STAGE))["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    if not email:
        assert topics == [] and "AlarmTopicArn" not in outputs
        return
    assert topics == [outputs["AlarmTopicArn"]]
    assert outputs["AlarmTopicArn"].endswith(f":{APP}-{STAGE}-alarms")
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topics[0])["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", email)


def test_status_shows_each_alarm_of_the_stage_and_its_state(aws, template):
    cloudwatch = aws.client("cloudwatch")
    for request in put_requests(template, email=True) + put_requests(template, False, "prod"):
        cloudwatch.put_metric_alarm(**request)  # botocore validates it against the model
    dead_letters = f"{APP}-{STAGE}-dead-letters"
    reason = "Threshold Crossed: 1 datapoint [3.0 (01/12/26 23:40:00)] was greater than 0.0"
    cloudwatch.set_alarm_state(AlarmName=dead_letters, StateValue="ALARM", StateReason=reason)

    found = status.alarms(cloudwatch, status.alarm_prefix(APP, STAGE))
    assert [alarm["name"] for alarm in found] == sorted(
        f"{APP}-{STAGE}-{what}"
        for what in (
            "dead-letters",
            "oldest-message",
            "indexer-errors",
            "indexer-throttles",
            "api-errors",
            "api-throttles",
            "rekognition-throttled",
        )
    )
    states = {alarm["name"]: alarm["state"] for alarm in found}
    assert states.pop(dead_letters) == "ALARM"
    assert set(states.values()) <= {"OK", "INSUFFICIENT_DATA"}
    assert all(alarm["notifies"] == [stage_values(True)["AlarmTopic"]] for alarm in found)

    lines = status.alarm_lines(found)
    [fired] = [i for i, line in enumerate(lines) if dead_letters in line]
    assert ": ALARM since " in lines[fired] and lines[fired].endswith(", notifies SNS")
    assert lines[fired + 1].strip() == f"{reason} (docs/runbook.md)"
    assert not any("-prod-" in line for line in lines)


def test_status_says_when_a_stage_has_no_alarms(aws):
    assert status.alarms(aws.client("cloudwatch"), status.alarm_prefix(APP, "new")) == []
    assert status.alarm_lines([]) == ["  alarms         none (deploy creates them with the stack)"]


def test_a_replayed_request_with_a_typo_is_refused_before_it_is_sent(aws, template):
    """The replay above checks something: botocore refuses a member PutMetricAlarm lacks."""
    request = copy.deepcopy(put_requests(template, email=False)[0])
    request["TreatMissingDatas"] = request.pop("TreatMissingData")
    with pytest.raises(botocore.exceptions.ParamValidationError, match="TreatMissingDatas"):
        aws.client("cloudwatch").put_metric_alarm(**request)


# -- deploy's --alarm-email -----------------------------------------------------------------------


def plan_of(aws, project, **options) -> deploy.Plan:
    ctx = Context(stage=STAGE, project_dir=project, session=aws, waiting=Waiting(0))
    return deploy.checked_plan(ctx, deploy.DeployOptions(search_endpoint=ENDPOINT, **options))


def test_deploy_passes_the_address_keeps_it_and_removes_it_when_asked(aws, project):
    assert plan_of(aws, project).params["AlarmEmail"] == ""
    assert plan_of(aws, project, alarm_email=" ops@example.com ").params["AlarmEmail"] == (
        "ops@example.com"
    )
    aws.client("cloudformation").create_stack(
        StackName=stack_name(APP, STAGE),
        TemplateBody=TEMPLATE_PATH.read_text(),
        Parameters=stack_parameters("ops@example.com"),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    # A later deploy, from any clone, keeps the stack's address unless told otherwise.
    assert plan_of(aws, project).params["AlarmEmail"] == "ops@example.com"
    assert plan_of(aws, project, alarm_email="").params["AlarmEmail"] == ""


def test_deploy_refuses_a_malformed_address_before_anything_is_created(aws, project):
    with pytest.raises(deploy.PreflightFailed) as failed:
        plan_of(aws, project, alarm_email="ops@example")
    [problem] = failed.value.report.problems
    assert problem.line().startswith("--alarm-email: 'ops@example' is not an e-mail address")
    assert aws.client("cloudformation").list_stacks()["StackSummaries"] == []
