"""label_ranking.top_counts: the aggregation's answer from upper bounds and exact counts."""

import random

import pytest

from chalicelib.search.query import LabelCount
from chalicelib.store.label_ranking import EXTRA_PER_ROUND, top_counts


class Counter:
    """Exact counts, recording which names were asked for."""

    def __init__(self, counts):
        self.counts, self.asked = counts, []

    def __call__(self, names):
        self.asked += names
        return {name: self.counts[name] for name in names}


def aggregation(counts, size):
    """What the terms aggregation answers: count descending, then name; no zero counts."""
    found = sorted(((n, c) for n, c in counts.items() if c > 0), key=lambda i: (-i[1], i[0]))
    return [LabelCount(name, count) for name, count in found[:size]]


@pytest.mark.parametrize("seed", range(200))
def test_the_answer_is_the_aggregations_whatever_the_bounds(seed):
    rng = random.Random(seed)
    names = [f"label-{number:03}" for number in range(rng.randint(0, 80))]
    counts = {name: rng.choice([0, 1, 2, 3, rng.randint(0, 500)]) for name in names}
    # Deleted documents not yet merged away only ever add to a term's document frequency.
    bounds = {
        name: count + rng.choice([0, 0, 1, rng.randint(0, 300)]) for name, count in counts.items()
    }
    size = rng.choice([1, 2, 5, 20, 100])

    assert top_counts(bounds, Counter(counts), size) == aggregation(counts, size)


def test_exact_bounds_take_one_round():
    counts = {f"label-{number:04}": 10_000 - number for number in range(3000)}
    counter = Counter(counts)

    assert top_counts(dict(counts), counter, 20) == aggregation(counts, 20)
    assert len(counter.asked) == 20 + EXTRA_PER_ROUND


def test_a_name_not_yet_counted_whose_bound_ties_the_page_is_counted():
    # The first round counts "m" (5 of a bound of 8) and names that deleted documents alone
    # hold; "b" is not counted yet, and its bound of 5 ties "m": it may come first by name.
    held_by_deleted = {f"n{number}": 0 for number in range(EXTRA_PER_ROUND)}
    counts = {"m": 5, **held_by_deleted, "b": 5}
    bounds = {"m": 8, **dict.fromkeys(held_by_deleted, 7), "b": 5}
    counter = Counter(counts)

    assert top_counts(bounds, counter, 1) == [LabelCount("b", 5)]
    assert counter.asked[-1] == "b"


def test_a_term_that_only_deleted_documents_hold_is_left_out():
    counter = Counter({"kite": 0, "sky": 3})

    assert top_counts({"kite": 7, "sky": 3}, counter, 5) == [LabelCount("sky", 3)]


def test_no_names_no_counts():
    assert top_counts({}, Counter({}), 20) == []
    assert top_counts({"sky": 3}, Counter({"sky": 3}), 0) == []
