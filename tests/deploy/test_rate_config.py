"""REKOGNITION_TPS in deploy: it must reach app.py's import, where chalice builds the event
source from it (set for the indexer alone, its mapping would stay unbounded, so deploy and
package refuse it); preflight checks what it asks of the batching; and a quota removed takes
its maximum concurrency off the mapping."""

from __future__ import annotations

import copy

import boto3
import pytest
from botocore.stub import Stubber

from localdev.aws import chalice_config, event_source, preflight
from tests.deploy.conftest import PROJECT_ROOT


@pytest.fixture
def config() -> dict:
    return copy.deepcopy(chalice_config.load(PROJECT_ROOT))


def test_a_stage_level_quota_is_what_the_indexer_sees(config):
    config["stages"]["dev"]["environment_variables"]["REKOGNITION_TPS"] = "25"
    view = chalice_config.stage_view(config, "dev")
    assert view.environment["REKOGNITION_TPS"] == "25"


def test_a_top_level_quota_reaches_the_import_too(config):
    config["environment_variables"]["REKOGNITION_TPS"] = "50"
    assert chalice_config.stage_view(config, "dev").environment["REKOGNITION_TPS"] == "50"


def test_a_quota_for_the_indexer_alone_is_refused_with_where_to_put_it(config):
    functions = config["stages"]["dev"].setdefault("lambda_functions", {})
    functions.setdefault("index_images", {})["environment_variables"] = {"REKOGNITION_TPS": "25"}
    with pytest.raises(ValueError, match=r"REKOGNITION_TPS .* stages\.dev\.environment_variables"):
        chalice_config.stage_view(config, "dev")


# -- preflight: what REKOGNITION_TPS asks of the batching ---------------------------------------


class StageOnly:
    """The part of deploy's Context that check_batching reads."""

    def __init__(self, view: chalice_config.StageView):
        self.stage, self._view = view.stage, view

    def stage_view(self) -> chalice_config.StageView:
        return self._view


def batching_problems(config: dict, timeout: int | None = None, **variables) -> list[str]:
    config["stages"]["dev"]["environment_variables"].update(variables)
    if timeout is not None:
        config["stages"]["dev"]["lambda_timeout"] = timeout
    report = preflight.Report()
    preflight.check_batching(StageOnly(chalice_config.stage_view(config, "dev")), None, report)
    return [problem.line() for problem in report.problems]


def test_a_quota_with_the_defaults_passes(config):
    assert batching_problems(config, REKOGNITION_TPS="25") == []


def test_a_quota_without_partial_batch_responses_is_refused(config):
    [problem] = batching_problems(config, REKOGNITION_TPS="25", PARTIAL_BATCH_RESPONSE="false")
    assert problem.startswith("REKOGNITION_TPS: sends throttled messages back as copies")
    assert "remove PARTIAL_BATCH_RESPONSE=false" in problem


def test_a_batch_the_quota_cannot_finish_within_the_timeout_is_refused(config):
    # Q=10, 1,000 messages: M=2, r=5/s, so 200.5 s for a batch against 80% of 60 s.
    [problem] = batching_problems(
        config,
        timeout=60,
        REKOGNITION_TPS="10",
        BATCH_SIZE="1000",
        MAX_BATCHING_WINDOW_SECONDS="5",
    )
    assert problem.startswith("BATCH_SIZE: a full batch of 1000 takes about 200 s")
    assert "more than 80% of the indexer's 60 s timeout" in problem
    assert "set BATCH_SIZE to at most 237" in problem  # (48 - 0.5) s x 5 calls/s


def test_the_same_batch_fits_a_longer_timeout(config):
    assert (
        batching_problems(
            config,
            timeout=300,
            REKOGNITION_TPS="10",
            BATCH_SIZE="1000",
            MAX_BATCHING_WINDOW_SECONDS="5",
        )
        == []
    )


def test_without_a_quota_nothing_is_paced_so_nothing_is_checked(config):
    assert batching_problems(config, BATCH_SIZE="1000", MAX_BATCHING_WINDOW_SECONDS="5") == []


# -- deploy: a quota removed leaves no maximum concurrency behind (stubbed Lambda) ---------------

UUID = "a1b2c3d4-5678-90ab-cdef-22222EXAMPLE"


def _mapping(**extra) -> dict:
    return {"UUID": UUID, "State": "Enabled", "BatchSize": 10, **extra}


def test_a_left_over_maximum_concurrency_is_removed_with_an_empty_scaling_config():
    """moto's Lambda keeps no ScalingConfig, so the sequence is stubbed from Lambda's API
    reference: ResourceInUseException while the mapping is still Updating, then the mapping
    without ScalingConfig."""
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    clear = {"UUID": UUID, "ScalingConfig": {}}
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "update_event_source_mapping",
            service_error_code="ResourceInUseException",
            http_status_code=400,
            expected_params=clear,
        )
        stubber.add_response("update_event_source_mapping", _mapping(State="Updating"), clear)
        slept: list[float] = []
        [cleared] = event_source.clear_maximum_concurrency(
            client, [_mapping(ScalingConfig={"MaximumConcurrency": 3})], sleep=slept.append
        )
        stubber.assert_no_pending_responses()
    assert "ScalingConfig" not in cleared
    assert slept == [1.0]


def test_a_mapping_without_a_maximum_concurrency_is_left_alone():
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client):  # any request would raise
        unbounded = [_mapping(), _mapping(ScalingConfig={})]
        assert event_source.clear_maximum_concurrency(client, unbounded) == unbounded
