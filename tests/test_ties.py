import itertools
from fractions import Fraction
from math import comb

import numpy as np
import pytest

from clothlib.retrieval import average_precision, rank_rows, retrieval_scores, ties
from clothlib.retrieval.ties import bound_ranking, expected_average_precision, expected_topk, tie_aware_scores

KS = (1, 2, 3, 5)


def tie_orders(distances):
    """Every ranking of one query's gallery consistent with its distances (each equally likely
    under a random order within ties), by brute force over all permutations."""
    return [order for order in itertools.permutations(range(len(distances)))
            if all(distances[a] <= distances[b] for a, b in zip(order, order[1:]))]


def brute_force(distances, relevant, ks=KS):
    """Mean hit@k and AP over every tie order, one query."""
    orders = np.array(tie_orders(distances))
    rel = np.broadcast_to(relevant, (len(orders), len(relevant)))
    hits = np.take_along_axis(rel, orders, axis=1)
    return [hits[:, :k].any(axis=1).mean() for k in ks], average_precision(orders, rel).mean()


@pytest.mark.parametrize("seed", range(12))
def test_expected_topk_and_ap_equal_the_mean_over_every_tie_order(seed):
    rng = np.random.default_rng(seed)
    distances = rng.integers(0, 3, (1, 7))
    relevant = np.zeros((1, 7), dtype=bool)
    relevant[0, rng.choice(7, rng.integers(1, 4), replace=False)] = True
    topk, ap = brute_force(distances[0], relevant[0])
    assert np.allclose(expected_topk(distances, relevant, KS)[0], topk)
    assert np.isclose(expected_average_precision(distances, relevant)[0], ap)


def test_expected_scores_agree_with_monte_carlo_on_a_larger_gallery():
    rng = np.random.default_rng(0)
    distances = rng.integers(0, 5, (3, 60))
    relevant = rng.random((3, 60)) < 0.08
    relevant[:, 0] = True
    draws = 3000
    hits, aps = np.zeros((3, 3)), np.zeros(3)
    for _ in range(draws):
        ranking = np.lexsort((rng.random(distances.shape), distances), axis=1)
        ranked = np.take_along_axis(relevant, ranking, axis=1)
        hits += np.stack([ranked[:, :k].any(axis=1) for k in (1, 5, 10)], axis=1)
        aps += average_precision(ranking, relevant)
    # standard error of a mean of 3000 draws is at most 0.5 / sqrt(3000) = 0.009
    assert np.allclose(expected_topk(distances, relevant, (1, 5, 10)), hits / draws, atol=0.03)
    assert np.allclose(expected_average_precision(distances, relevant), aps / draws, atol=0.01)


def test_topk_is_the_hypergeometric_closed_form_for_several_relevant_items():
    # 4 items strictly nearer (none relevant), then a tie group of 10 with 3 relevant
    distances = np.array([[0] * 4 + [1] * 10 + [2] * 3])
    relevant = np.zeros(distances.shape, dtype=bool)
    relevant[0, [5, 9, 12]] = True
    for k in range(1, 18):
        slots = min(max(k - 4, 0), 10)
        exact = 1 - Fraction(comb(7, slots), comb(10, slots))
        assert np.isclose(expected_topk(distances, relevant, (k,))[0, 0], float(exact))


def test_all_tied_with_one_relevant_item_gives_k_over_g_and_harmonic_ap():
    gallery = 9
    distances, relevant = np.zeros((1, gallery)), np.eye(1, gallery, 4, dtype=bool)
    assert np.allclose(expected_topk(distances, relevant, (1, 3, 9, 20))[0], [1 / 9, 3 / 9, 1, 1])
    harmonic = sum(1 / p for p in range(1, gallery + 1))
    assert np.isclose(expected_average_precision(distances, relevant)[0], harmonic / gallery)
    scores = tie_aware_scores(distances, relevant, (1, 3))
    assert scores["optimistic"]["top1"] == 100 and scores["pessimistic"]["top1"] == 0
    assert scores["gallery_order"]["top1"] == 0 and scores["gallery_order"]["top3"] == 0  # item 4 comes 5th


def test_without_ties_all_four_scores_agree():
    rng = np.random.default_rng(1)
    distances = rng.permutation(40).reshape(1, 40).repeat(5, axis=0) + np.arange(5)[:, None] * 0.5
    relevant = rng.random((5, 40)) < 0.1
    relevant[:, 7] = True
    scores = tie_aware_scores(distances, relevant, (1, 5, 10))
    for name in ("expected", "optimistic", "pessimistic"):
        for key, value in scores["gallery_order"].items():
            assert scores[name][key] == pytest.approx(value, abs=1e-3), (name, key)


def test_bounds_enclose_the_expectation_and_gallery_order():
    rng = np.random.default_rng(2)
    distances = rng.integers(0, 6, (30, 50))
    relevant = rng.random((30, 50)) < 0.05
    scores = tie_aware_scores(distances, relevant, (1, 5, 10))
    for key in ("top1", "top5", "top10", "mAP"):
        low, high = scores["pessimistic"][key], scores["optimistic"][key]
        assert low <= scores["expected"][key] <= high
        assert low <= scores["gallery_order"][key] <= high
    assert scores["optimistic"]["top1"] > scores["pessimistic"]["top1"], "this case has ties that matter"


def test_bound_rankings_put_relevant_items_first_or_last_within_ties_then_gallery_order():
    distances = np.array([[1, 0, 1, 1, 0]])
    relevant = np.array([[False, False, True, False, True]])
    assert bound_ranking(distances, relevant, True).tolist() == [[4, 1, 2, 0, 3]]
    assert bound_ranking(distances, relevant, False).tolist() == [[1, 4, 0, 3, 2]]
    assert rank_rows(distances).tolist() == [[1, 4, 0, 2, 3]]


def test_gallery_order_is_the_package_score_and_queries_without_relevant_items_are_left_out():
    distances = np.array([[0, 1, 1], [2, 0, 1]])
    relevant = np.array([[False, True, False], [False, False, False]])
    scores = tie_aware_scores(distances, relevant, (1, 2))
    assert scores["gallery_order"] == retrieval_scores(rank_rows(distances), relevant, (1, 2))
    assert scores["expected"]["queries"] == 1 and scores["expected"]["queries_without_relevant"] == 1
    assert scores["expected"]["top2"] == 50.0  # item 1 ties with item 2 for ranks 2-3
    assert np.isnan(expected_topk(distances, relevant, (1,))[1, 0])
    assert np.isnan(expected_average_precision(distances, relevant)[1])
    assert tie_aware_scores(distances, np.zeros((2, 3), dtype=bool), (1,))["expected"]["top1"] is None


def test_k_beyond_the_gallery_is_a_sure_hit_and_k_below_1_is_an_error():
    distances, relevant = np.array([[3, 3, 3]]), np.array([[False, False, True]])
    assert expected_topk(distances, relevant, (3, 50)).tolist() == [[1.0, 1.0]]
    with pytest.raises(ValueError, match="k must be at least 1"):
        expected_topk(distances, relevant, (0,))


def test_expected_ap_is_the_same_computed_in_blocks_of_queries(monkeypatch):
    rng = np.random.default_rng(3)
    distances, relevant = rng.integers(0, 4, (11, 30)), rng.random((11, 30)) < 0.2
    whole = expected_average_precision(distances, relevant)
    monkeypatch.setattr(ties, "ROW_VALUES", 60)  # two queries a block
    assert np.array_equal(expected_average_precision(distances, relevant), whole, equal_nan=True)


def test_distances_must_cover_the_whole_gallery():
    with pytest.raises(ValueError, match="whole gallery"):
        tie_aware_scores(np.zeros((2, 3)), np.zeros((2, 4), dtype=bool))
