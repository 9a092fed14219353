"""Retrieval metrics from a ranking and a relevance matrix: top-k accuracy (the paper's figure)
and mean average precision over the whole ranking.

``ranking[q]`` lists gallery indices, nearest first; ``relevant[q, g]`` says whether gallery item
``g`` is a right answer for query ``q``. A query with no relevant gallery item can never be
answered, so it is left out of every mean and counted apart (``queries_without_relevant``)
instead of counting as a miss. Ties in the ranking are already broken by the ranking's producer
(gallery order, see :mod:`clothlib.retrieval.codes`), so the numbers do not depend on chance.
"""
from __future__ import annotations

import numpy as np

TOP_K = (1, 5, 10, 20, 50, 100)


def relevance(query_ids, gallery_ids) -> np.ndarray:
    """``(Q, G)`` booleans: True where a query and a gallery item share an id."""
    _, codes = np.unique(np.concatenate([np.asarray(query_ids), np.asarray(gallery_ids)]), return_inverse=True)
    query_codes, gallery_codes = codes[:len(query_ids)], codes[len(query_ids):]
    return query_codes[:, None] == gallery_codes[None, :]


def _hits(ranking: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """``hits[q, r]``: the item at rank ``r`` of query ``q`` is relevant."""
    return np.take_along_axis(np.asarray(relevant, dtype=bool), np.asarray(ranking), axis=1)


def topk_accuracy(ranking: np.ndarray, relevant: np.ndarray, ks=TOP_K) -> dict[str, float]:
    """``{"top{k}": share of answerable queries with a relevant item within the first k ranks}``."""
    answerable = np.asarray(relevant).any(axis=1)
    hits = _hits(ranking, relevant)[answerable]
    return {f"top{k}": float(hits[:, :k].any(axis=1).mean()) if len(hits) else float("nan") for k in ks}


def average_precision(ranking: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Per query: the mean, over its relevant items, of the precision at each one's rank; NaN for
    a query without relevant items. Relevant items missing from a truncated ranking count as
    never found."""
    hits = _hits(ranking, relevant)
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (precision * hits).sum(axis=1) / np.asarray(relevant).sum(axis=1)


def mean_average_precision(ranking: np.ndarray, relevant: np.ndarray) -> float:
    """Mean of :func:`average_precision` over answerable queries (NaN when there are none)."""
    per_query = average_precision(ranking, relevant)
    answered = per_query[~np.isnan(per_query)]
    return float(answered.mean()) if len(answered) else float("nan")


def retrieval_scores(ranking: np.ndarray, relevant: np.ndarray, ks=TOP_K) -> dict:
    """Top-k accuracies and mAP in percent (None when no query is answerable), JSON-ready, with how
    many queries were scored and how many were left out."""
    answerable = int(np.asarray(relevant).any(axis=1).sum())
    scores = {**topk_accuracy(ranking, relevant, ks), "mAP": mean_average_precision(ranking, relevant)}
    return {**{name: None if np.isnan(value) else round(100 * value, 3) for name, value in scores.items()},
            "queries": answerable, "queries_without_relevant": len(relevant) - answerable}
