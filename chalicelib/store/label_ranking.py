"""The most frequent label names of an unfiltered /labels without visiting every image.

An aggregation over ``label_names`` reads every label of every image: 166 ms at 1M images on the
benchmark machine. Without filters a name's count is the number of live documents that hold
its term, which the engine answers per name from the term's postings; and the term's document
frequency, which also counts documents deleted but not yet merged away, is an upper bound of
that count that the index keeps for free. So names are counted exactly in the order of their
bounds until the last name of the page outnumbers the bound of every name not yet counted
(Fagin's threshold algorithm): a page of 20 usually takes one batch of exact counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from chalicelib.search.query import LabelCount

# Names counted per round beyond the page: one round is usually enough.
EXTRA_PER_ROUND = 10


def top_counts(
    bounds: Mapping[str, int],
    count: Callable[[list[str]], Mapping[str, int]],
    size: int,
) -> list[LabelCount]:
    """The ``size`` names with the highest exact counts, ties by name, as the aggregation
    orders them; names that no live image holds are left out. ``bounds``: an upper bound of
    each name's count; ``count``: the exact counts of some names."""
    if size <= 0:
        return []
    ranked = sorted(bounds, key=lambda name: (-bounds[name], name))
    exact: dict[str, int] = {}
    page: list[tuple[str, int]] = []
    counted = 0
    while counted < len(ranked):
        names = ranked[counted : counted + size + EXTRA_PER_ROUND]
        counted += len(names)
        exact.update(count(names))
        found = [(name, number) for name, number in exact.items() if number > 0]
        page = sorted(found, key=lambda item: (-item[1], item[0]))[:size]
        # Strictly more: a name not yet counted whose bound ties could still come first by name.
        if counted < len(ranked) and len(page) == size and page[-1][1] > bounds[ranked[counted]]:
            break
    return [LabelCount(name, number) for name, number in page]
