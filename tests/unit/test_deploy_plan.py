"""deploy_plan.decide: every decision of a deploy, from in-memory inputs (no AWS, no files)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from localdev.aws import deploy, policy, stack
from localdev.aws.context import DeployError
from localdev.aws.deploy_plan import (
    Caller,
    DeployOptions,
    PlanInputs,
    SearchTarget,
    StageConfig,
    Step,
    decide,
    domain_size,
    preflight_inputs,
)

APP, STAGE, ACCOUNT, REGION = "image-label-search", "dev", "123456789012", "us-east-1"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/deployer"
CALLER = Caller(partition="aws", region=REGION, account=ACCOUNT, principal_arn=DEPLOYER)
CONFIG = StageConfig(
    api_auth=None, uploads=False, upload_prefix="uploads/", index_timeout_seconds=60
)
OWN_DOMAIN_ARN = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/{APP}-{STAGE}"
SHARED = SearchTarget(
    endpoint="https://search-shared.us-east-1.es.amazonaws.com",
    domain_arn=f"arn:aws:es:{REGION}:{ACCOUNT}:domain/shared",
    engine_version="OpenSearch_2.19",
)


def inputs(stack_found: dict | None = None, **config) -> PlanInputs:
    return PlanInputs(
        app_name=APP,
        stage=STAGE,
        caller=CALLER,
        config=replace(CONFIG, **config),
        stack=stack_found,
    )


def found(tags: dict[str, str] | None = None, **parameters: str) -> dict:
    """A stack as describe_stacks returns it."""
    return {
        "StackStatus": "UPDATE_COMPLETE",
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        "Outputs": [],
    }


def statement(document: dict, sid: str) -> dict | None:
    return next((s for s in document["Statement"] if s["Sid"] == sid), None)


# -- a first deploy ------------------------------------------------------------------------------


def test_a_first_deploy_creates_a_domain_a_bucket_and_asks_first():
    decided = decide(inputs(), DeployOptions())
    assert not decided.exists and not decided.deletes_domain and decided.refusal is None
    assert decided.search == SearchTarget(endpoint="", domain_arn=OWN_DOMAIN_ARN)
    assert decided.search.creates_domain
    assert decided.api_auth == "iam" and decided.uploads is False
    params = decided.params
    assert params["BucketName"] == f"{APP}-{STAGE}-{ACCOUNT}-{REGION}"
    assert params["SearchDomainName"] == f"{APP}-{STAGE}"
    assert (params["ExistingSearchEndpoint"], params["ExistingDomainArn"]) == ("", "")
    assert params["AdminPrincipalArns"] == DEPLOYER
    assert params["BucketVersioning"] == "false"
    assert params["MaxReceiveCount"] == "5"
    assert params["QueueVisibilityTimeout"] == "360"  # six times the 60 s function timeout
    assert params["UploadCorsOrigin"] == "" and params["AlarmEmail"] == ""
    assert (params["SearchInstanceCount"], params["SearchZoneAwareness"]) == ("1", "false")
    assert dict(decided.tags) == {"app": APP, "stage": STAGE, "api-auth": "iam", "uploads": "false"}
    assert decided.steps == (
        Step.ANNOUNCE,
        Step.CONFIRM_CREATION,
        Step.WORKSPACE,
        Step.POLICIES,
        Step.STACK,
        Step.LOG_GROUPS,
        Step.STAGE_CONFIG,
        Step.CHALICE_STATE,
        Step.CHALICE_DEPLOY,
        Step.PARTIAL_BATCHES,
        Step.API_ACCESS,
        Step.INDEX,
        Step.SAVED_OBJECTS,
        Step.SUMMARY,
    )


def test_yes_skips_the_question_and_a_later_deploy_never_asks():
    assert Step.CONFIRM_CREATION not in decide(inputs(), DeployOptions(assume_yes=True)).steps
    assert Step.CONFIRM_CREATION not in decide(inputs(found()), DeployOptions()).steps


def test_the_stack_parameters_are_the_templates_and_carry_the_policies():
    decided = decide(inputs(), DeployOptions())
    assert set(decided.params) <= stack.template_parameters(stack.TEMPLATE_PATH.read_text())
    assert set(decided.policies) == set(policy.FUNCTIONS)
    assert json.loads(decided.params["ApiPolicyDocument"]) == decided.policies["api_handler"]
    assert json.loads(decided.params["IndexerPolicyDocument"]) == decided.policies["index_images"]


# -- API auth ------------------------------------------------------------------------------------


def test_api_auth_option_beats_the_stack_tag_which_beats_the_config_which_beats_iam():
    tagged = found(tags={stack.API_AUTH_TAG: "api_key"})
    assert decide(inputs(tagged, api_auth="none"), DeployOptions(api_auth="iam")).api_auth == "iam"
    assert decide(inputs(tagged, api_auth="none"), DeployOptions()).api_auth == "api_key"
    assert decide(inputs(found(), api_auth="none"), DeployOptions()).api_auth == "none"
    assert decide(inputs(found()), DeployOptions()).api_auth == "iam"


def test_an_unknown_api_auth_is_refused():
    with pytest.raises(DeployError, match="API_AUTH must be one of iam, api_key, none, got open"):
        decide(inputs(api_auth="open"), DeployOptions())


# -- the search cluster --------------------------------------------------------------------------


def test_an_existing_domain_is_used_as_aws_described_it():
    described = replace(inputs(), existing_domain=SHARED)
    decided = decide(described, DeployOptions(existing_domain="shared"))
    assert decided.search == SHARED and not decided.search.creates_domain
    assert decided.params["ExistingSearchEndpoint"] == SHARED.endpoint
    assert decided.params["ExistingDomainArn"] == SHARED.domain_arn
    assert decided.params["SearchDomainName"] == ""
    assert f"{SHARED.domain_arn}/" in json.dumps(decided.policies["api_handler"])


def test_an_existing_domain_option_needs_the_domain_described_first():
    with pytest.raises(ValueError, match="describe --existing-domain first"):
        decide(inputs(), DeployOptions(existing_domain="shared"))


def test_another_endpoint_has_no_domain_arn_and_no_domain_statements():
    decided = decide(inputs(), DeployOptions(search_endpoint="http://127.0.0.1:9200/"))
    assert decided.search == SearchTarget(endpoint="http://127.0.0.1:9200", domain_arn=None)
    assert decided.params["ExistingSearchEndpoint"] == "http://127.0.0.1:9200"
    assert (decided.params["ExistingDomainArn"], decided.params["SearchDomainName"]) == ("", "")
    assert ":es:" not in json.dumps(decided.policies)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://search-x.us-east-1.es.amazonaws.com",
        "https://search-x.cn-north-1.es.amazonaws.com.cn",
    ],
)
def test_an_aws_domain_given_as_an_endpoint_is_refused(endpoint):
    with pytest.raises(DeployError, match="pass --existing-domain NAME"):
        decide(inputs(), DeployOptions(search_endpoint=endpoint))


def test_a_later_deploy_keeps_the_cluster_the_stack_uses_unless_told_to_create_one():
    previous = found(ExistingSearchEndpoint=SHARED.endpoint, ExistingDomainArn=SHARED.domain_arn)
    kept = decide(inputs(previous), DeployOptions())
    assert kept.search == SearchTarget(SHARED.endpoint, SHARED.domain_arn)
    assert kept.params["ExistingDomainArn"] == SHARED.domain_arn and not kept.deletes_domain
    created = decide(inputs(previous), DeployOptions(create_domain=True))
    assert created.search == SearchTarget(endpoint="", domain_arn=OWN_DOMAIN_ARN)


def test_switching_away_from_the_stacks_own_domain_deletes_it_and_needs_yes():
    own_domain = found(ExistingSearchEndpoint="")
    options = DeployOptions(search_endpoint="http://127.0.0.1:9200")
    refused = decide(inputs(own_domain), options)
    assert refused.deletes_domain
    assert "deletes the stack's OpenSearch domain" in (refused.refusal or "")
    assert refused.steps == (Step.ANNOUNCE, Step.REFUSE)  # nothing changes before the refusal
    confirmed = decide(inputs(own_domain), replace(options, assume_yes=True))
    assert confirmed.deletes_domain and confirmed.refusal is None
    assert Step.REFUSE not in confirmed.steps and Step.STACK in confirmed.steps
    # Staying on the domain, or a first deploy to an endpoint, deletes nothing.
    assert not decide(inputs(own_domain), DeployOptions()).deletes_domain
    assert not decide(inputs(), options).deletes_domain


# -- admins, uploads, the bucket and the queue ---------------------------------------------------


def test_admins_given_replace_the_stacks_otherwise_the_caller_joins_them():
    other = f"arn:aws:iam::{ACCOUNT}:role/ops"
    previous = found(AdminPrincipalArns=other)
    given = decide(inputs(previous), DeployOptions(admin_arns=[other]))
    assert given.params["AdminPrincipalArns"] == other
    joined = decide(inputs(previous), DeployOptions())
    assert joined.params["AdminPrincipalArns"] == f"{other},{DEPLOYER}"
    already = decide(inputs(found(AdminPrincipalArns=DEPLOYER)), DeployOptions())
    assert already.params["AdminPrincipalArns"] == DEPLOYER


def test_uploads_option_beats_the_stack_tag_which_beats_the_config():
    on, off = found(tags={stack.UPLOADS_TAG: "true"}), found(tags={stack.UPLOADS_TAG: "false"})
    assert decide(inputs(on), DeployOptions(uploads=False)).uploads is False
    assert decide(inputs(on), DeployOptions()).uploads is True
    assert decide(inputs(off, uploads=True), DeployOptions()).uploads is False
    assert decide(inputs(found(), uploads=True), DeployOptions()).uploads is True


def test_uploads_grant_the_prefix_keep_the_cors_origin_and_add_the_origin_step():
    previous = found(UploadCorsOrigin="https://api.example")
    with_uploads = decide(inputs(previous, upload_prefix="in/"), DeployOptions(uploads=True))
    grant = statement(with_uploads.policies["api_handler"], "PresignUploads")
    assert grant is not None and grant["Resource"].endswith("/in/*")
    assert with_uploads.params["UploadCorsOrigin"] == "https://api.example"
    assert with_uploads.tags[stack.UPLOADS_TAG] == "true"
    steps = with_uploads.steps
    assert steps.index(Step.API_ACCESS) < steps.index(Step.UPLOAD_ORIGIN) < steps.index(Step.INDEX)
    without = decide(inputs(previous), DeployOptions(uploads=False))
    assert statement(without.policies["api_handler"], "PresignUploads") is None
    assert without.params["UploadCorsOrigin"] == ""
    assert Step.UPLOAD_ORIGIN not in without.steps


def test_bucket_name_and_versioning_option_beat_the_stack():
    previous = found(BucketName="kept-bucket", BucketVersioning="true")
    assert decide(inputs(previous), DeployOptions()).params["BucketName"] == "kept-bucket"
    assert decide(inputs(previous), DeployOptions()).params["BucketVersioning"] == "true"
    named = decide(inputs(previous), DeployOptions(bucket_name="new", versioning=False))
    assert (named.params["BucketName"], named.params["BucketVersioning"]) == ("new", "false")


def test_queue_settings_follow_the_function_timeout_and_the_options():
    timed = decide(inputs(index_timeout_seconds=120, batching_window_seconds=5), DeployOptions())
    assert timed.params["QueueVisibilityTimeout"] == "725"  # 6 x 120 s + the 5 s window
    previous = found(MaxReceiveCount="3")
    assert decide(inputs(previous), DeployOptions()).params["MaxReceiveCount"] == "3"
    given = decide(inputs(previous), DeployOptions(max_receive_count=9))
    assert given.params["MaxReceiveCount"] == "9"


def test_alarm_email_is_kept_replaced_stripped_or_removed():
    previous = found(AlarmEmail="ops@example.com")
    assert decide(inputs(previous), DeployOptions()).params["AlarmEmail"] == "ops@example.com"
    new = decide(inputs(previous), DeployOptions(alarm_email=" new@example.com "))
    assert new.params["AlarmEmail"] == "new@example.com"
    assert decide(inputs(previous), DeployOptions(alarm_email="")).params["AlarmEmail"] == ""


@pytest.mark.parametrize(
    ("replicas", "nodes", "zones"),
    [(0, "1", "false"), (1, "2", "true"), (2, "4", "true"), (3, "4", "true")],
)
def test_a_replica_gets_a_node_of_its_own_in_an_even_number_of_nodes(replicas, nodes, zones):
    assert domain_size(replicas) == {"SearchInstanceCount": nodes, "SearchZoneAwareness": zones}
    params = decide(inputs(index_replicas=replicas), DeployOptions()).params
    assert (params["SearchInstanceCount"], params["SearchZoneAwareness"]) == (nodes, zones)


# -- what the stage's config turns on ------------------------------------------------------------


def test_detections_and_the_alias_shape_the_indexer_policy():
    decided = decide(
        inputs(detect_text=True, detect_faces=True, index_alias="photos"), DeployOptions()
    )
    indexer = decided.policies["index_images"]
    actions = (statement(indexer, "LabelImages") or {})["Action"]
    assert actions == [
        "rekognition:DetectLabels",
        "rekognition:DetectText",
        "rekognition:DetectFaces",
    ]
    assert f"{OWN_DOMAIN_ARN}/photos/_bulk" in json.dumps(indexer)


def test_a_rekognition_quota_redelivers_and_keeps_the_concurrency_bound():
    quota = decide(inputs(rekognition_quota=True), DeployOptions())
    assert statement(quota.policies["index_images"], "SendThrottledMessagesBack") is not None
    assert quota.clears_concurrency_bound is False
    free = decide(inputs(), DeployOptions())
    assert statement(free.policies["index_images"], "SendThrottledMessagesBack") is None
    assert free.clears_concurrency_bound is True


# -- which steps run -----------------------------------------------------------------------------


def test_stack_only_deploys_no_functions_and_ends_with_the_index():
    steps = decide(inputs(found()), DeployOptions(stack_only=True)).steps
    assert steps == (
        Step.ANNOUNCE,
        Step.WORKSPACE,
        Step.POLICIES,
        Step.STACK,
        Step.LOG_GROUPS,
        Step.STAGE_CONFIG,
        Step.INDEX,
        Step.STACK_ONLY_SUMMARY,
    )


def test_every_step_has_its_function():
    assert set(deploy.STEPS) == set(Step)


def test_preflight_checks_what_the_plan_decided():
    options = DeployOptions(search_endpoint="http://127.0.0.1:9200", public_uploads=True)
    decided = decide(inputs(api_auth="none"), replace(options, alarm_email="a@example.com"))
    checked = preflight_inputs(decided, options)
    assert checked.bucket == decided.params["BucketName"]
    assert checked.admin_arns == [DEPLOYER]
    assert (checked.creates_domain, checked.uses_aws_domain) == (False, False)
    assert (checked.api_auth, checked.uploads, checked.public_uploads) == ("none", False, True)
    assert checked.alarm_email == "a@example.com" and checked.stack is None
