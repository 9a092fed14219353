"""Notebook 06's exercises: Hamming distances, the top k, top-k accuracy."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .core import Case, Outcome, as_array, first_difference, first_match, run_cases, shape_hint


def check_hamming_distances(hamming: Callable) -> Outcome:
    """Notebook 06. ``hamming(query_packed, gallery_packed)`` returns the (Q, G) integer Hamming distances
    between packed codes (uint8 rows, eight bits a byte, as ``retrieval.pack_codes`` makes them):
    XOR the bytes, count the set bits; ``retrieval.hamming_distances`` is the reference."""
    from ..retrieval import hamming_distances, pack_codes

    rng = np.random.default_rng(8)

    def codes(count: int, bits: int) -> np.ndarray:
        return pack_codes(rng.random((count, bits)) < 0.5)

    def case(name: str, queries: np.ndarray, gallery: np.ndarray) -> Case:
        return Case(name, (queries, gallery), hamming_distances(queries, gallery), data={"bits": 8 * queries.shape[1]})

    same = codes(4, 48)
    full = codes(3, 64)
    cases = [case("5 queries x 40 gallery codes of 48 bits (6 bytes)", codes(5, 48), codes(40, 48)),
             case("12-bit codes (2 bytes, the last one padded with zero bits)", codes(4, 12), codes(9, 12)),
             case("72-bit codes (9 bytes: longer than one 64-bit word)", codes(3, 72), codes(7, 72)),
             case("identical codes (distance 0)", same, same.copy()),
             case("complementary 64-bit codes (every bit differs)", full, ~full),
             case("one query and one gallery code of 8 bits", np.array([[0b10110010]], dtype=np.uint8),
                  np.array([[0b00110111]], dtype=np.uint8))]

    def judge(case: Case, result) -> str | None:
        got, expected = as_array(result), case.expected
        queries, gallery = case.args
        hint = shape_hint(got, expected, "one row per query, one column per gallery code: (Q, G)")
        if hint:
            return hint
        if not np.array_equal(got, expected):
            xor = queries[:, None, :] ^ gallery[None, :, :]
            if np.array_equal(got, xor.astype(np.int64).sum(-1)):
                return ("count the set bits of the XOR (np.bitwise_count, or np.unpackbits then sum), not its byte "
                        "values")
            if np.array_equal(got, (xor != 0).sum(-1)):
                return "count the bits that differ, not the bytes that differ"
            if got.max() > case.data["bits"]:
                return f"a distance cannot exceed the code's {case.data['bits']} bits (got {got.max()})"
            query, item = first_difference(got, expected)
            return f"distance(query {query}, gallery {item}) = {got[query, item]}, expected {expected[query, item]}"
        if not np.issubdtype(got.dtype, np.integer):
            return f"distances count bits: return an integer array (got {got.dtype})"
        return None

    return run_cases("check_hamming_distances", hamming, cases, judge)


def check_top_k(top_k: Callable) -> Outcome:
    """Notebook 06. ``top_k(distances, k)`` returns, for each row of a (Q, G) distance matrix, the gallery
    indices of its k smallest distances, nearest first, **ties broken by gallery order** (the lower
    index first): the course's one tie policy, ``retrieval.rank_rows``."""
    from ..retrieval import rank_rows

    rng = np.random.default_rng(9)

    def case(name: str, distances: np.ndarray, k: int) -> Case:
        return Case(name, (distances, k), rank_rows(distances, k))

    hamming = rng.integers(0, 9, (6, 50)).astype(np.int32)
    cases = [case("6 queries x 50 gallery items, distances 0..8 (many ties), k = 5", hamming, 5),
             case("every distance equal: the first k gallery items, in order", np.full((2, 10), 7, np.int32), 4),
             case("ties across rank k: which tied items make the top k follows gallery order",
                  np.array([[3, 1, 2, 1, 1, 0, 1]], dtype=np.int32), 3),
             case("k = 1", hamming, 1),
             case("k = the gallery size (a whole ranking)", hamming[:2], 50),
             case("a 2,000-item gallery with 49 distinct distances, k = 20 (a sort that is not stable reorders "
                  "ties)", rng.integers(0, 49, (3, 2000)).astype(np.int32), 20),
             case("float distances with exact ties, k = 3", np.round(rng.random((4, 12)), 1), 3),
             case("float distances a billionth apart (a tie-break epsilon, d + eps * index, reorders them), k = 20",
                  np.round(rng.random((3, 200)), 2) - 1e-9 * rng.integers(0, 3, (3, 200)), 20)]
    return run_cases("check_top_k", top_k, cases, _judge_top_k)


def _index_hint(got: np.ndarray, expected: np.ndarray, distances: np.ndarray, k: int) -> str | None:
    """What makes ``got`` no (Q, k) array of distinct gallery indices (None when it is one)."""
    if got.ndim == 2 and got.shape[0] == len(expected) and got.shape[1] != k:
        return f"return k = {k} gallery indices per query (the nearest first), got {got.shape[1]}"
    hint = shape_hint(got, expected, "(Q, k): one row of k gallery indices per query")
    if hint:
        return hint
    if not np.issubdtype(got.dtype, np.integer):
        if not np.array_equal(got, got.round()):
            return f"return gallery indices (integers), not distances (got {got.dtype} values)"
        return f"return integer indices (got {got.dtype})"
    if got.min() < 0 or got.max() >= distances.shape[1]:
        return f"indices must be gallery indices 0..{distances.shape[1] - 1}"
    if any(len(set(row)) < len(row) for row in got):
        return "a gallery item appears twice in one row"
    return None


def _epsilon_hint(got: np.ndarray, distances: np.ndarray, k: int) -> str | None:
    """The hint for a tie-break that changes the distances (d + eps * index): it reorders distances
    closer than eps * G, so a farther item can come first or push a nearer one out of the top k."""
    index = np.arange(distances.shape[1])
    for eps in (10.0 ** -power for power in range(1, 13)):
        if np.array_equal(got, np.argsort(distances + eps * index, axis=1, kind="stable")[:, :k]):
            return (f"adding a tie-break epsilon (d + {eps:g} x index) reorders distances closer than {eps:g} x G: a "
                    "farther item comes first; keep the distances as they are and sort stably, np.argsort(d, axis=1, "
                    "kind='stable'), which puts the lower gallery index first among exact ties")
    return None


def _judge_top_k(case: Case, result) -> str | None:
    got, expected = as_array(result), case.expected
    distances, k = case.args
    hint = _index_hint(got, expected, distances, k)
    if hint or np.array_equal(got, expected):
        return hint
    got = got.astype(np.int64)
    hint = _epsilon_hint(got, distances, k)
    if hint:
        return hint
    got_distances = np.take_along_axis(distances, got, axis=1)
    expected_distances = np.take_along_axis(distances, expected, axis=1)
    if np.array_equal(got_distances, expected_distances):
        query = int(np.flatnonzero((got != expected).any(1))[0])
        return (f"ties must keep gallery order: among equal distances the lower gallery index comes first "
                f"(query {query}: {got[query].tolist()}, expected {expected[query].tolist()}); np.argsort(..., "
                "kind='stable') keeps it, the default sort does not")
    if np.array_equal(np.sort(got_distances, axis=1), expected_distances):
        if (np.diff(got_distances, axis=1) <= 0).all():
            return "nearest first: the smallest distance at rank 0, in increasing order"
        return "sort the k nearest by distance: np.argpartition alone leaves them in no particular order"
    query = int(np.flatnonzero((got_distances != expected_distances).any(1))[0])
    return (f"query {query}: your k items lie at distances {got_distances[query].tolist()}, the k nearest at "
            f"{expected_distances[query].tolist()}")


def check_topk_accuracy(topk_accuracy: Callable) -> Outcome:
    """Notebook 06. ``topk_accuracy(ranking, relevant, k)`` returns the share (0..1) of queries with a
    relevant gallery item among their first k ranks: ``ranking`` (Q, R) gallery indices nearest first,
    ``relevant`` (Q, G) booleans indexed by gallery item. Queries with no relevant item are left out
    (NaN when none is left), as ``retrieval.topk_accuracy``."""
    from ..retrieval import rank_rows
    from ..retrieval import topk_accuracy as reference

    rng = np.random.default_rng(10)

    def case(name: str, ranking: np.ndarray, relevant: np.ndarray, k: int) -> Case:
        return Case(name, (ranking, relevant, k), reference(ranking, relevant, ks=(k,))[f"top{k}"])

    def one_relevant(queries: int, gallery: int) -> np.ndarray:
        relevant = np.zeros((queries, gallery), dtype=bool)
        relevant[np.arange(queries), rng.integers(0, gallery, queries)] = True
        return relevant

    ranking = rank_rows(rng.integers(0, 9, (8, 30)), 20)
    answerable = one_relevant(8, 30)
    some_unanswerable = answerable.copy()
    some_unanswerable[[1, 4]] = False
    many = rng.random((8, 30)) < 0.15
    many[:, 0] |= ~many.any(1)
    cases = [case("8 queries, 30 gallery items, one relevant item each, k = 5", ranking, answerable, 5),
             case("two queries with no relevant gallery item (left out of the mean), k = 10", ranking,
                  some_unanswerable, 10),
             case("several relevant items per query, k = 1", ranking, many, 1),
             case("k = the ranking's length (20 of 30 gallery items ranked)", ranking, answerable, 20),
             case("no query has a relevant item (the accuracy is undefined: NaN)", ranking,
                  np.zeros((8, 30), dtype=bool), 5)]

    return run_cases("check_topk_accuracy", topk_accuracy, cases, _judge_topk_accuracy)


def _accuracy_mistakes(ranking: np.ndarray, relevant: np.ndarray, k: int, expected: float) -> list[tuple[str, float]]:
    """(hint, what that mistake returns) for each mistake class students make in top-k accuracy."""
    hits = np.take_along_axis(relevant, ranking, axis=1)
    answerable = relevant.any(1)
    first_k = "the first k ranks are ranking[:, :k] (0-based: ranks 0..k-1)"
    return [
        ("return a share between 0 and 1, not a percentage", 100 * expected),
        ("a query with no relevant gallery item can never be answered: leave it out of the mean (clothlib "
         "counts it apart) instead of counting it as a miss", hits[:, :k].any(1).mean()),
        ("relevant[q, g] is indexed by gallery item: look up relevant[q, ranking[q, r]] (np.take_along_axis), "
         "not relevant[q, r]", relevant[:, :k].any(1)[answerable].mean()),
        (first_k, hits[:, :k + 1].any(1)[answerable].mean()),
        (first_k, hits[:, :max(k - 1, 0)].any(1)[answerable].mean()),
        ("a query is answered when ANY of its first k items is relevant (np.any over the k ranks); the share of "
         "relevant items among them is precision@k, another measure", hits[:, :k].mean(1)[answerable].mean()),
        ("look at every one of the first k ranks (ranking[:, :k]): a hit at any rank up to k counts, not only a "
         "hit at rank k - 1", hits[:, k - 1][answerable].mean()),
        ("relevance is per query: relevant[q] marks the gallery items that match query q, so look each query's "
         "ranking up in its own row, not in the items relevant to any query",
         relevant.any(0)[ranking[:, :k]].any(1)[answerable].mean()),
    ]


def _judge_topk_accuracy(case: Case, result) -> str | None:
    try:
        got = float(result)
    except (TypeError, ValueError):
        return f"return one number, the share of answered queries (got {type(result).__name__})"
    expected = case.expected
    if np.isnan(expected):
        return None if np.isnan(got) else (f"no query can be answered here: the accuracy is undefined, return NaN "
                                           f"(not {got})")
    if np.isclose(got, expected):
        return None
    hint = first_match(np.array(got), expected, _accuracy_mistakes(*case.args, expected))
    return hint or (f"got {got:.4f}, expected {expected:.4f}: the share of the queries with a relevant item whose "
                    "first k ranks hold one")


# ---- notebook 06's build exercise: mAP and the whole evaluation loop --------------------------------

def _ap_mistakes(order: np.ndarray, relevant: np.ndarray) -> list[tuple[str, float]]:
    """(hint, what that mistake returns) for each mistake in one query's average precision."""
    hits = relevant[order].astype(float)
    ranks = np.arange(1, len(hits) + 1)
    precision = np.cumsum(hits) / ranks
    found, total = hits.sum(), relevant.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return [
            ("return a share between 0 and 1, not a percentage", 100 * (precision * hits).sum() / total),
            ("AP is the mean of the precision at the rank of EVERY relevant item; 1 / rank of the first one is the "
             "reciprocal rank, AP only when a query has one relevant item", 1 / (1 + np.argmax(hits)) if found else 0),
            ("divide by all of the query's relevant items, not only those the ranking found: a relevant item "
             "missing from a truncated ranking counts as never found (precision 0)", (precision * hits).sum() / found),
            ("the precision at rank r (1-based) counts the relevant items at ranks 1..r, the item itself included, "
             "over r: ranks start at 1, not 0", (np.cumsum(hits) / np.maximum(ranks - 1, 1) * hits).sum() / total),
            ("the precision at rank r (1-based) counts the relevant items at ranks 1..r, the item itself included, "
             "over r: ranks start at 1, not 0", ((np.cumsum(hits) - hits) / ranks * hits).sum() / total),
            ("average the precision only at the ranks of the relevant items (weighted by hits), not at every rank",
             precision.mean()),
            ("relevant[g] is indexed by gallery item: look up relevant[order] (what is at each rank), not relevant[r]",
             (np.cumsum(relevant[:len(order)]) / ranks * relevant[:len(order)]).sum() / total),
        ]


def check_average_precision(average_precision: Callable) -> Outcome:
    """Notebook 06's build exercise, part 1. ``average_precision(order, relevant)`` is one query's AP:
    ``order`` the gallery indices nearest first (possibly only the first R of them), ``relevant`` the (G,)
    booleans of the gallery items that answer the query. The mean, over ALL of the query's relevant
    items, of the precision at each one's rank (1-based), an item missing from ``order`` counting 0;
    NaN when nothing is relevant. With one relevant item it is 1 / its rank. The reference is
    ``retrieval.average_precision(order[None], relevant[None])[0]``."""
    from ..retrieval import average_precision as reference

    rng = np.random.default_rng(61)

    def case(name: str, order: np.ndarray, relevant: np.ndarray) -> Case:
        return Case(name, (order, relevant), float(reference(order[None], relevant[None])[0]))

    def relevant_at(gallery: int, items) -> np.ndarray:
        row = np.zeros(gallery, dtype=bool)
        row[list(items)] = True
        return row

    order = rng.permutation(30)
    cases = [case("one relevant item, at rank 4 (AP = 1/4)", order, relevant_at(30, [order[3]])),
             case("three relevant items at ranks 2, 5 and 9 of 30", order, relevant_at(30, order[[1, 4, 8]])),
             case("the first item relevant, and one more at rank 20", order, relevant_at(30, order[[0, 19]])),
             case("a ranking truncated to its first 10 of 30 items, 2 of the 4 relevant items beyond it", order[:10],
                  relevant_at(30, order[[2, 6, 15, 25]])),
             case("a random gallery of 200 items, 12 relevant", rng.permutation(200), rng.permutation(200) < 12),
             case("no relevant item (AP undefined: NaN)", order, np.zeros(30, dtype=bool))]

    def judge(case: Case, result) -> str | None:
        try:
            got = float(result)
        except (TypeError, ValueError):
            return f"return one number, the query's AP (got {type(result).__name__})"
        if np.isnan(case.expected):
            return None if np.isnan(got) else f"no item is relevant: AP is undefined, return NaN (not {got})"
        if np.isclose(got, case.expected, rtol=1e-6, atol=1e-9):
            return None
        hint = first_match(np.array(got), case.expected, _ap_mistakes(*case.args))
        return hint or (f"got {got:.5f}, expected {case.expected:.5f}: the mean over the relevant items of "
                        "(relevant items at ranks 1..r) / r, r the item's rank")

    return run_cases("check_average_precision", average_precision, cases, judge)


def _evaluate(query_codes, gallery_codes, query_ids, gallery_ids, ks, sort_kind: str = "stable",
              precision: bool = False, shift: int = 0, pooled: bool = False, misses: bool = False,
              reciprocal: bool = False, percent: bool = True) -> dict:
    """The evaluation loop with one knob per mistake (the defaults give ``retrieval.score_codes``'s dict)."""
    from ..retrieval import average_precision, hamming_distances

    gallery_ids = np.asarray(gallery_ids)
    pool = np.isin(gallery_ids, np.asarray(query_ids))
    found, precisions = {k: [] for k in ks}, []
    for index, query in enumerate(query_ids):
        order = np.argsort(hamming_distances(query_codes[index:index + 1], gallery_codes)[0], kind=sort_kind)
        relevant = pool if pooled else gallery_ids == query
        if not relevant.any() and not misses:
            continue
        hits = relevant[order]
        for k in ks:
            found[k].append(hits[:max(k + shift, 0)].mean() if precision else hits[:max(k + shift, 0)].any())
        first = 1 / (1 + np.argmax(hits)) if hits.any() else 0.0
        precisions.append(first if reciprocal else np.nan_to_num(average_precision(order[None], relevant[None])[0]))
    scale = 100 if percent else 1
    scores = {f"top{k}": round(scale * float(np.mean(found[k])), 3) if precisions else None for k in ks}
    answerable = int(np.isin(np.asarray(query_ids), gallery_ids).sum())
    return {**scores, "mAP": round(scale * float(np.mean(precisions)), 3) if precisions else None,
            "queries": answerable, "queries_without_relevant": len(query_ids) - answerable}


_EVALUATION_MISTAKES = {
    "ties must stay in gallery order: np.argsort(distances, kind='stable'); argsort's default sort is not stable, so "
    "it reorders equal distances": {"sort_kind": "quicksort"},
    "top-k accuracy asks whether ANY of the first k items is relevant (np.any); the share of relevant items among "
    "them is precision@k, another measure": {"precision": True},
    "rank off by one: the first k ranks are order[:k] (0-based ranks 0..k-1)": {"shift": 1},
    "rank off by one: the first k ranks are order[:k] (0-based ranks 0..k-1), order[:k - 1] misses rank k":
        {"shift": -1},
    "relevance is per query: gallery item g answers query q when gallery_ids[g] == query_ids[q], not when it "
    "matches any query": {"pooled": True},
    "a query with no relevant gallery item can never be answered: leave it out of every mean (count it in "
    "queries_without_relevant), do not score it as a miss": {"misses": True},
    "mAP is the mean of each query's AP over all its relevant items; 1 / rank of the first is the reciprocal rank, "
    "equal only with one relevant item per query": {"reciprocal": True},
    "report percentages rounded to 3 decimals, like retrieval.retrieval_scores (100 x the share)": {"percent": False},
}


def check_retrieval_evaluation(evaluate: Callable) -> Outcome:
    """Notebook 06's build exercise, part 2. ``evaluate(query_codes, gallery_codes, query_ids, gallery_ids,
    ks)`` scores packed query codes against a packed gallery: for each query its Hamming distances to the
    gallery, the ranking (ties in gallery order), the ranks of its relevant items (gallery items with its
    id), top-k accuracy for every k in ``ks`` and AP. It returns ``retrieval.score_codes``'s dict:
    ``top{k}`` and ``mAP`` in percent rounded to 3 decimals over the answerable queries (None when there
    are none), ``queries`` (answerable) and ``queries_without_relevant``."""
    from ..retrieval import pack_codes, score_codes

    rng = np.random.default_rng(62)

    def codes(count: int, bits: int) -> np.ndarray:
        return rng.random((count, bits)) < 0.5

    def case(name: str, query_bits: np.ndarray, gallery_bits: np.ndarray, query_ids, gallery_ids, ks) -> Case:
        args = (pack_codes(query_bits), pack_codes(gallery_bits), list(query_ids), list(gallery_ids), tuple(ks))
        return Case(name, args, score_codes(*args))

    gallery = codes(300, 8)
    near = codes(1, 64).repeat(40, axis=0)
    near[np.arange(40), rng.integers(0, 64, 40)] ^= True  # one or two bits from one code: distances 0..4
    near[np.arange(0, 40, 2), rng.integers(0, 64, 20)] ^= True
    groups = rng.integers(0, 25, 300)
    picked = rng.choice(300, 12, replace=False)
    cases = [case("12 queries, a 300-item gallery of 8-bit codes (9 distances: many ties), one relevant item each",
                  gallery[picked] ^ (rng.random((12, 8)) < 0.1), gallery, picked, range(300), (1, 5, 10, 20)),
             case("several relevant items per query (groups of about 12), two queries with none", codes(10, 8),
                  gallery, [*groups[:8], 99, 98], groups, (1, 3, 10)),
             case("close distances: 40 gallery codes one or two bits from the queries' own 64-bit code", near[:6],
                  near, range(6), range(40), (1, 2, 5)),
             case("no query has a relevant gallery item (every score None)", codes(3, 8), gallery[:20], [-1, -2, -3],
                  range(20), (1, 5))]
    return run_cases("check_retrieval_evaluation", evaluate, cases, _judge_evaluation)


def _same_scores(got: dict, expected: dict) -> bool:
    """Equal up to one unit of the third decimal (a mean summed in another order may round the other way)."""
    if set(got) != set(expected):
        return False
    for key, value in expected.items():
        mine = got[key]
        if value is None or mine is None:
            if (value is None) != (mine is None or (isinstance(mine, float) and np.isnan(mine))):
                return False
        elif not np.isclose(float(mine), value, rtol=0, atol=1.01e-3):
            return False
    return True


def _judge_evaluation(case: Case, result) -> str | None:
    if not isinstance(result, dict):
        return f"return a dict like retrieval.score_codes's (top1, ..., mAP, queries, ...), got {type(result).__name__}"
    expected = case.expected
    if set(result) != set(expected):
        return (f"the dict's keys are {sorted(result)}, expected {sorted(expected)} (one top{{k}} per k, mAP, "
                "queries, queries_without_relevant)")
    if _same_scores(result, expected):
        return None
    for hint, mistake in _EVALUATION_MISTAKES.items():
        variant = _evaluate(*case.args, **mistake)
        if not _same_scores(variant, expected) and _same_scores(result, variant):
            return hint
    key = next(key for key in expected if not _same_scores({key: result[key]}, {key: expected[key]}))
    return (f"{key} = {result[key]}, expected {expected[key]}: rank each query's gallery by (Hamming distance, "
            "gallery index), then score only the queries with a relevant item")
