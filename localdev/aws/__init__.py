"""Deploy Image Label Search to AWS in one command and remove it in one.

    python -m localdev.aws plan --stage dev             # preflight + what deploy would change
    python -m localdev.aws deploy --stage dev           # stack + chalice + index + dashboards
    python -m localdev.aws status --stage dev           # what exists, queue depths, duplicates
    python -m localdev.aws teardown --stage dev         # everything, after a confirmation
    python -m localdev.aws gallery --stage dev          # the gallery through a signing proxy
    python -m localdev.aws open-dashboards --stage dev  # Dashboards through the same proxy
    python -m localdev.aws dashboards --url URL         # saved objects into any Dashboards
    python -m localdev.aws.package --stage dev --out D  # chalice package for SAM/CDK users

Modules:
- before anything is created: ``preflight`` (the checks), ``principals`` (admins as resource
  policies name them), ``changes`` (what ``plan`` prints);
- the stack: ``stack`` (infra/template.yaml via CloudFormation), ``progress`` (its events as
  they happen), ``policy`` (one least-privilege policy per function), ``log_groups``;
- the app: ``workspace`` (the git-ignored ``.deploy/<stage>/`` project chalice runs in),
  ``chalice_config``, ``discovery`` (the stage's resources found in AWS, from any clone),
  ``event_source`` (the partial-batch flag), ``api_keys``;
- around it: ``dashboards`` and ``saved_objects``, ``access`` (gallery and Dashboards through
  localdev/proxy/), ``deploy``, ``status``, ``teardown``, ``package``.

Local tooling only: none of it ships in the Lambda bundle.
"""
