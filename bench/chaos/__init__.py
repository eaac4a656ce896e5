"""Fault injection on the local pipeline (``make chaos``, ``.venv/bin/python -m bench.chaos``):
fixed counts, bounded time, loopback only.

1. outage: the OpenSearch node is killed (SIGKILL) while 1,000 images flow through the local
   stack, then restarted on the same data folder; every image must end indexed exactly once
   and the dead-letter queue empty.
2. throttling: a proxy in front of the local Rekognition answers ThrottlingException to 30% of
   requests; botocore's standard retry mode must get every image indexed.
3. poison: malformed, oversized, missing and non-image messages, each sent with nine good ones;
   each must end as a logged skip or in the DLQ while the rest of its batch succeeds.
4. fuzz: schemathesis against openapi.json (at least 1,000 cases, zero 5xx), and injection
   strings in ``label`` and ``q`` that must match literally.
"""
