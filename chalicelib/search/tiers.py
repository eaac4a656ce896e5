"""Tiers: narrower searches that hold exactly the first page (and more) of a search ranked by
its labels' confidences, at the cost of their own images instead of every match's.

The tier of band b holds the images whose every requested label has a confidence of at least
b. With one label, every image of the tier ranks above every image outside it, so a tier that
finds more images than the page holds the page. With several the scores add up: an image
outside has a label below b, and each of its other labels adds at most 100, so it scores at
most ``bound``; a tier holds the page when the first of its images past the page scores above
that. Both stores ask the tiers best first and fall back to the full search.
"""

from __future__ import annotations

from chalicelib.search.query import LABEL_SCORE_MAX, SORT_NEWEST, SORT_RELEVANCE, SearchQuery

# The bands, best first: the index's token bands (chalicelib/store/mapping.py), thresholds that
# people pick (Rekognition answers from 50 by default).
BANDS = (99, 95, 90, 80, 50, 0)


def bands(search: SearchQuery) -> list[int]:
    """The tiers to ask first, best first, above the minimum confidence (below it a tier
    holds every match) and, after a cursor, with room below the cursor's score. Empty where
    the order is not the labels' confidences: free text adds its own score, newest is by time,
    and the confidence sort of several labels is their best, not their sum."""
    filters = search.filters
    by_labels = bool(filters.labels) and not filters.text and search.sort != SORT_NEWEST
    if not by_labels or (len(filters.labels) > 1 and search.sort != SORT_RELEVANCE):
        return []
    ceiling = float(search.after[0]) if search.after else float("inf")
    return [
        band
        for band in BANDS
        if band > filters.min_confidence and _room_below(ceiling, len(filters.labels), band)
    ]


def _room_below(ceiling: float, labels: int, band: int) -> bool:
    limit = bound(labels, band)
    # One label: the tier's images after the cursor score from the band up to the cursor.
    return band <= ceiling if limit is None else limit < ceiling


def bound(labels: int, band: int) -> float | None:
    """What every image outside a tier of several labels scores at most: one label below the
    band and each other label at its best; None for one label, whose tier outranks the rest
    outright. Stores add 32-bit float scores and round to the nearest, so a sum just below the
    bound may come out at it: only a score above the bound holds the page."""
    if labels == 1:
        return None
    return (labels - 1) * LABEL_SCORE_MAX + band


def holds_page(first_values: list[float], size: int, limit: float | None) -> bool:
    """Does a tier's answer hold the page? ``first_values``: the first sort value (the score)
    of each hit it found, in order, at least up to one past the page."""
    if len(first_values) <= size:
        return False
    return limit is None or float(first_values[size]) > limit
