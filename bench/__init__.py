"""Benchmarks and fault injection for Image Label Search.

Each module runs on its own (``make bench-<name>``, or ``.venv/bin/python -m bench.<name>``:
the venv's python, which has the dependencies), prints a table and writes
``artifacts/bench/<name>.json``. Every figure is printed next to a baseline measured in the same
run, as a ratio; ``bench.report`` describes the machine. None of this is a timed test: the
numbers are for people to read, and the goals are reported as met or missed.

    make bench-ingest       # one handler invocation: batch 1/10/100, Rekognition at 200 ms
    make bench-search       # API latency at 10k/100k/1M documents on a real node
    make bench-cold-start   # import time of app.py, size of the deployment package
    make bench-labeler      # the local Rekognition endpoint against raw onnxruntime
    make chaos              # fault injection on the local pipeline

All load goes to 127.0.0.1; every loop is bounded in count and in time.
"""
