"""Log lines survive whatever a hostile message quotes."""

from __future__ import annotations

import json
import logging

from chalicelib.logs import JsonFormatter


def test_a_lone_surrogate_is_written_as_its_escape_and_the_line_stays_json():
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "message failed", None, None)
    record.body = '{"\ud800": null}'
    record.key = "café/\ud83d.jpg"
    line = JsonFormatter().format(record)
    line.encode("utf-8")  # what a stream does with it: must not raise
    assert "\\ud800" in line and "café" in line
    assert json.loads(line)["message"] == "message failed"
