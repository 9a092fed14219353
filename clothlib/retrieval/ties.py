"""Tie-aware retrieval scores: what top-k and mAP are worth when equal distances are ordered by chance.

A 48-bit Hamming distance takes at most 49 values, so hundreds of gallery items can share a
query's distance and a ranking must order them somehow. :mod:`clothlib.retrieval.codes` breaks
ties by gallery order, which makes scores reproducible but arbitrary: shuffle the gallery and
top-1 moves. This module reports, beside that ``gallery_order`` score, three others computed from
the same distances:

- ``expected``: the mean over a uniformly random order within every group of tied items,
  computed in closed form (no sampling);
- ``optimistic``: relevant items first within their tie group (an upper bound);
- ``pessimistic``: relevant items last within their tie group (a lower bound).

Their spread is how much of a score is a tie lottery. With distinct distances all four agree.

**Top-k.** Only the tie group holding a query's nearest relevant item matters: say ``s`` items lie
strictly nearer, the group has ``n`` items of which ``r`` are relevant, and ``m = k - s`` ranks of
the top k are left for the group. The query scores a hit unless all ``m`` places go to irrelevant
items: ``P(hit@k) = 1 - C(n - r, m) / C(n, m)`` (0 when ``m <= 0``, 1 when ``m >= n``); with one
relevant item this is ``m / n``.

**Average precision** (McSherry & Najork, "Computing information retrieval performance measures
efficiently in the presence of tied scores", ECIR 2008). A relevant item at place ``p`` of a tie
group that starts after ``N`` items, ``R`` of them relevant, has precision
``(R + 1 + j) / (N + p)``, where ``j``, the relevant items of its own group placed before it, has
mean ``(p - 1)(r - 1)/(n - 1)`` given ``p``; ``p`` is uniform on ``1..n``. Summed over the group's
``r`` relevant items, its expected contribution to AP (before dividing by the query's relevant count) is::

    r/n * [ (R + 1) * S0 + (r - 1)/(n - 1) * S1 ],   S0 = sum_{p=1..n} 1/(N + p),   S1 = n - (N + 1) S0

(S1 = sum (p - 1)/(N + p); the second term is 0 when n = 1). Expectation is linear, so expected
AP is the sum of these terms over the groups divided by the number of relevant items; mAP is its
mean over answerable queries. (Expected top-k is a mean of probabilities, not a ranking's score.)

Queries without a relevant gallery item are left out and counted apart, as in
:mod:`clothlib.retrieval.metrics`.
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from .codes import rank_rows
from .metrics import TOP_K, retrieval_scores

ROW_VALUES = 1 << 22  # (query x gallery) entries sorted at once when computing expected AP


def _check(distances: np.ndarray, relevant: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    distances, relevant = np.asarray(distances), np.asarray(relevant, dtype=bool)
    if distances.ndim != 2 or distances.shape != relevant.shape:
        raise ValueError(f"distances {distances.shape} and relevant {relevant.shape} must both be (queries, gallery) "
                         "over the whole gallery: tie-aware scores need every item's distance")
    return distances, relevant


def _tie_groups(distances: np.ndarray, relevant: np.ndarray) -> dict:
    """Each row sorted by distance, and for every sorted place the bounds of its tie group
    (``start``, ``stop``: places, end exclusive) and the relevant items before it (``cumulative``,
    ``(Q, G + 1)``: relevant items among the first i places)."""
    order = np.argsort(distances, axis=1, kind="stable")
    values = np.take_along_axis(distances, order, axis=1)
    hits = np.take_along_axis(relevant, order, axis=1)
    places = np.arange(values.shape[1])
    new = np.ones(values.shape, dtype=bool)
    new[:, 1:] = values[:, 1:] != values[:, :-1]
    start = np.maximum.accumulate(np.where(new, places, 0), axis=1)
    last = np.ones(values.shape, dtype=bool)
    last[:, :-1] = new[:, 1:]
    stop = np.minimum.accumulate(np.where(last, places + 1, values.shape[1])[:, ::-1], axis=1)[:, ::-1]
    cumulative = np.zeros((len(values), values.shape[1] + 1), dtype=np.int64)
    np.cumsum(hits, axis=1, out=cumulative[:, 1:])
    return {"hits": hits, "start": start, "stop": stop, "cumulative": cumulative}


def expected_topk(distances: np.ndarray, relevant: np.ndarray, ks=TOP_K) -> np.ndarray:
    """``(Q, len(ks))``: probability that a relevant item is within the first k ranks when ties are
    ordered at random (NaN rows for queries without a relevant item). ``k`` beyond the gallery
    counts as the whole gallery."""
    distances, relevant = _check(distances, relevant)
    groups = _tie_groups(distances, relevant)
    answerable = relevant.any(axis=1)
    rows = np.arange(len(distances))
    first = np.argmax(groups["hits"], axis=1)  # sorted place of the nearest relevant item
    before = groups["start"][rows, first].astype(np.float64)
    size = (groups["stop"][rows, first] - groups["start"][rows, first]).astype(np.float64)
    inside = (groups["cumulative"][rows, groups["stop"][rows, first]]
              - groups["cumulative"][rows, groups["start"][rows, first]]).astype(np.float64)
    result = np.empty((len(distances), len(ks)))
    for column, k in enumerate(ks):
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        slots = np.clip(k - before, 0, size)  # places of the group inside the top k
        # log C(n - r, m) - log C(n, m); C(n - r, m) = 0 (a sure hit) where m > n - r
        possible = slots <= size - inside
        log_miss = np.where(possible, gammaln(size - inside + 1) - gammaln(np.maximum(size - inside - slots, 0) + 1)
                            - gammaln(size + 1) + gammaln(size - slots + 1), -np.inf)
        result[:, column] = -np.expm1(log_miss)
    result[~answerable] = np.nan
    return result


def expected_average_precision(distances: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Per query: average precision expected under a random order within ties (McSherry & Najork
    2008, see the module docstring); NaN for a query without relevant items."""
    distances, relevant = _check(distances, relevant)
    gallery = distances.shape[1]
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, gallery + 1))])  # H(i) = sum_{p<=i} 1/p
    block = max(1, ROW_VALUES // max(1, gallery))
    result = np.empty(len(distances))
    for first in range(0, len(distances), block):
        groups = _tie_groups(distances[first:first + block], relevant[first:first + block])
        start, stop, cumulative = groups["start"], groups["stop"], groups["cumulative"]
        size = (stop - start).astype(np.float64)
        inside = (np.take_along_axis(cumulative, stop, axis=1) - np.take_along_axis(cumulative, start, axis=1))
        earlier = np.take_along_axis(cumulative, start, axis=1).astype(np.float64)
        s0 = harmonic[stop] - harmonic[start]
        s1 = size - (start + 1) * s0
        with np.errstate(divide="ignore", invalid="ignore"):
            same_group = np.where(size > 1, (inside - 1) / (size - 1) * s1, 0.0)
        # each relevant place carries 1/r of its group's term: (1/n) [(R + 1) S0 + (r - 1)/(n - 1) S1]
        per_place = ((earlier + 1) * s0 + same_group) / size
        total = np.where(groups["hits"], per_place, 0.0).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            result[first:first + block] = total / cumulative[:, -1]
    return result


def bound_ranking(distances: np.ndarray, relevant: np.ndarray, optimistic: bool) -> np.ndarray:
    """``(Q, G)`` ranking by distance with relevant items first (``optimistic``) or last within each
    tie group, then gallery order."""
    distances, relevant = _check(distances, relevant)
    columns = np.broadcast_to(np.arange(distances.shape[1]), distances.shape)
    return np.lexsort((columns, ~relevant if optimistic else relevant, distances), axis=1)


def tie_aware_scores(distances: np.ndarray, relevant: np.ndarray, ks=TOP_K) -> dict:
    """Top-k accuracies and mAP (percent, JSON-ready, the keys of
    :func:`~clothlib.retrieval.metrics.retrieval_scores`) four ways: ``gallery_order`` (the package's
    tie rule), ``expected`` (random order within ties, closed form), ``optimistic`` and
    ``pessimistic`` (relevant items first / last within ties)."""
    distances, relevant = _check(distances, relevant)
    answerable = relevant.any(axis=1)
    counts = {"queries": int(answerable.sum()), "queries_without_relevant": int((~answerable).sum())}
    expected = {f"top{k}": column for k, column in zip(ks, expected_topk(distances, relevant, ks).T)}
    expected["mAP"] = expected_average_precision(distances, relevant)
    return {"gallery_order": retrieval_scores(rank_rows(distances), relevant, ks),
            "expected": {**{name: round(100 * float(values[answerable].mean()), 3) if answerable.any() else None
                            for name, values in expected.items()}, **counts},
            "optimistic": retrieval_scores(bound_ranking(distances, relevant, True), relevant, ks),
            "pessimistic": retrieval_scores(bound_ranking(distances, relevant, False), relevant, ks)}
