"""Settings from the environment reach the local function as they would a deployed one, and a
shell set up for a real AWS account (profile, region) neither leaks into it nor breaks it."""

import os

from localdev import cli
from localdev.run import SAMPLES
from localdev.stack import LocalStack


def test_the_environment_wins_and_a_real_accounts_profile_stays_out(monkeypatch, stack_options):
    monkeypatch.setenv("MIN_CONFIDENCE", "80")
    monkeypatch.setenv("BATCH_SIZE", "2")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_PROFILE", "someones-real-profile")  # not defined here: never read
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")  # a function setting, despite its AWS_ prefix
    with LocalStack(stack_options) as stack:
        settings = stack.app_module.components.settings
        assert (settings.min_confidence, settings.batch_size) == (80, 2)
        assert (settings.region, settings.aws_max_attempts) == ("eu-west-1", 3)
        assert stack.queue_arn.startswith("arn:aws:sqs:eu-west-1:")
        sources = {name: source for name, _, source in stack.setting_differences()}
        assert sources["MIN_CONFIDENCE"] == sources["BATCH_SIZE"] == "your environment"
        assert sources["DETECT_FACES"] == "local default"

        files = [str(SAMPLES / "chelsea-cat.jpg")]
        keys = cli.upload(files, stack.options.bucket, s3=stack.s3, show_progress=False)
        document = stack.wait_until_indexed(keys, timeout=60)["chelsea-cat.jpg"]
        confidences = [label["confidence"] for label in document["labels"]]
        assert confidences and min(confidences) >= 80  # Egyptian Cat (39%) is not kept
    assert os.environ["AWS_PROFILE"] == "someones-real-profile"  # the shell's, restored
