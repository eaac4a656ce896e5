"""The local event source mapping gathers a batch like Lambda: up to BATCH_SIZE messages, for up
to MAX_BATCHING_WINDOW_SECONDS once the first has arrived."""

from localdev.poller import LocalEventSourceMapping


class ScriptedQueue:
    """Answers ReceiveMessage from a script of batches and records each call's wait."""

    def __init__(self, *batches):
        self.batches = list(batches)
        self.waits = []

    def receive_message(self, **request):
        self.waits.append(request["WaitTimeSeconds"])
        batch = self.batches.pop(0) if self.batches else []
        return {"Messages": [{"MessageId": m, "ReceiptHandle": m, "Body": "{}"} for m in batch]}


def poller(queue, batch_size, window_seconds=0):
    return LocalEventSourceMapping(
        queue, "url", "arn", lambda event, context: {}, batch_size, window_seconds=window_seconds
    )


def test_without_a_window_it_takes_what_is_there_and_does_not_wait_again():
    queue = ScriptedQueue(["a", "b"], ["c"], [], ["late"])
    messages = poller(queue, batch_size=10)._receive_batch()
    assert [m["MessageId"] for m in messages] == ["a", "b", "c"]
    assert queue.waits == [1, 0, 0]


def test_with_a_window_it_waits_for_more_until_the_batch_is_full():
    queue = ScriptedQueue(["a"], [], ["b", "c"])
    messages = poller(queue, batch_size=3, window_seconds=5)._receive_batch()
    assert [m["MessageId"] for m in messages] == ["a", "b", "c"]
    assert queue.waits[0] == 1 and all(0 < wait <= 5 for wait in queue.waits[1:])


def test_an_empty_long_poll_ends_the_attempt():
    queue = ScriptedQueue([])
    assert poller(queue, batch_size=10, window_seconds=5)._receive_batch() == []
    assert queue.waits == [1]
