"""bench.search's Recorder: every request one API call sends, timed and replayed."""

from bench.search import Recorder


class FakeClient:
    def __init__(self):
        self.sent = []

    def _answer(self, name, took):
        def send(**kwargs):
            self.sent.append((name, kwargs["body"]))
            return {"took": took}

        return send

    def __getattr__(self, name):
        return self._answer(name, {"search": 3, "msearch": 5, "termvectors": 7}[name])


def test_it_records_searches_multi_searches_and_term_vectors_and_replays_them_unwrapped():
    client = FakeClient()
    recorder = Recorder(client)
    recorder.start()

    client.search(index="a", body={"query": 1})
    client.termvectors(index="a", body={"doc": 2})
    client.msearch(index="a", body="{}\n{}\n")

    assert recorder.took == 15
    assert recorder.bodies == [{"query": 1}, {"doc": 2}, "{}\n{}\n"]
    calls = recorder.calls
    recorder.start()
    client.sent.clear()
    recorder.replay(calls)
    assert [name for name, _ in client.sent] == ["search", "termvectors", "msearch"]
    assert recorder.calls == []  # a replay is not recorded
