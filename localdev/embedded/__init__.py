"""The embedded image store (SQLite) and its free-text analysis, for local runs only.

They live outside ``chalicelib/`` on purpose: chalice ships all of ``chalicelib/`` in the Lambda
bundle and nothing of ``localdev/``, and a deployed function always has a search endpoint
(``chalicelib.settings`` refuses to start one without), so this code never runs in Lambda.
"""
