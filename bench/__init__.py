"""Benchmarks and fault injection for Image Label Search.

Each module runs on its own (``python -m bench.<name>``), prints a table and writes
``artifacts/bench/<name>.json``. Every figure is printed next to a baseline measured in the same
run, as a ratio; ``bench.report`` describes the machine. None of this is a timed test: the
numbers are for people to read, and the goals are reported as met or missed.

    python -m bench.ingest        # one handler invocation: batch 1/10/100, Rekognition at 200 ms
    python -m bench.search        # API latency at 10k/100k/1M documents on a real node
    python -m bench.cold_start    # import time of app.py, size of the deployment package
    python -m bench.labeler       # the local Rekognition endpoint against raw onnxruntime
    python -m bench.chaos         # fault injection on the local pipeline

All load goes to 127.0.0.1; every loop is bounded in count and in time.
"""
