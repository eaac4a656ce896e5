"""BackgroundLoop: the feeder's and the pollers' thread, stop event and retry after an error."""

import logging
import threading

from localdev import background
from localdev.background import BackgroundLoop


def test_rounds_run_until_stopped_and_a_failing_round_is_logged_and_retried(monkeypatch, caplog):
    monkeypatch.setattr(background, "RETRY_SECONDS", 0)
    rounds, enough = [], threading.Event()

    def one_round() -> int:
        rounds.append(len(rounds))
        if len(rounds) == 2:
            raise RuntimeError("boom")
        if len(rounds) >= 5:
            enough.set()
        return 0  # nothing done (idle_seconds is 0 here, so the next round starts at once)

    loop = BackgroundLoop(
        one_round, name="test-loop", log=logging.getLogger("test"), failure="round failed"
    )
    with caplog.at_level(logging.ERROR, logger="test"):
        loop.start()
        assert enough.wait(5)
        loop.stop()
    assert loop.stopping and len(rounds) >= 5
    assert [r.message for r in caplog.records] == ["round failed"]
    count = len(rounds)
    loop.stop()  # a second stop is harmless
    assert len(rounds) == count


def test_request_stop_returns_at_once_and_the_round_sees_it():
    seen, started = [], threading.Event()
    release = threading.Event()
    loop: BackgroundLoop

    def one_round() -> int:
        started.set()
        release.wait(5)
        seen.append(loop.stopping)
        return 1

    loop = BackgroundLoop(one_round, name="test-loop", log=logging.getLogger("test"), failure="x")
    loop.start()
    assert started.wait(5)
    loop.request_stop()
    assert loop.stopping
    release.set()
    loop.stop()
    assert seen == [True]
