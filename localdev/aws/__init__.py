"""Deploy Image Label Search to AWS in one command and remove it in one.

    python -m localdev.aws deploy --stage dev       # stack + chalice + index + dashboards
    python -m localdev.aws status --stage dev       # what exists, queue depths, flags
    python -m localdev.aws teardown --stage dev     # everything, after a confirmation
    python -m localdev.aws dashboards --url URL     # saved objects into any Kibana/Dashboards

Modules: ``stack`` (infra/template.yaml via CloudFormation), ``policy`` (the role's
least-privilege policy), ``chalice_config`` (.chalice/config.json), ``event_source``
(.chalice/deployed and the partial-batch flag), ``api_keys``, ``dashboards`` and
``saved_objects`` (the NDJSON), ``deploy``, ``status``, ``teardown``. Local tooling only: none of
it ships in the Lambda bundle.
"""
