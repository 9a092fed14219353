import numpy as np
import pytest

from clothlib.retrieval import FloatBruteForce, hamming_rank, pack_codes, rank_rows, relevance, rerank, unpack_codes
from clothlib.retrieval.rerank import TwoStage, choose_shortlist, shortlist_scores

BITS = 12  # few distinct distances: many ties


def gallery_set(gallery=200, queries=15, bits=BITS, dims=24, seed=0):
    """Codes with many exact duplicates (few bits), relaxed query codes whose signs are the query
    codes, and float features."""
    rng = np.random.default_rng(seed)
    gallery_relaxed = np.tanh(rng.standard_normal((gallery, bits)))
    gallery_relaxed[gallery // 2:] = gallery_relaxed[:gallery - gallery // 2]  # second half repeats the first
    query_relaxed = np.tanh(rng.standard_normal((queries, bits)))
    return {"gallery_codes": pack_codes(gallery_relaxed >= 0), "query_codes": pack_codes(query_relaxed >= 0),
            "query_relaxed": query_relaxed, "gallery_features": rng.standard_normal((gallery, dims)),
            "query_features": rng.standard_normal((queries, dims))}


def two_stage(data, shortlist, reranker, hamming="numpy"):
    features = data["gallery_features"] if reranker == "float" else None
    return TwoStage(shortlist, reranker, hamming).add(data["gallery_codes"], features)


def query_floats(data, reranker):
    return data["query_features"] if reranker == "float" else data["query_relaxed"]


def naive_asymmetric(data):
    """1 - cosine(relaxed query, +-1 gallery code), rounded so identical codes tie exactly."""
    signs = np.where(unpack_codes(data["gallery_codes"], BITS), 1.0, -1.0)
    query = data["query_relaxed"]
    cosine = query @ signs.T / (np.linalg.norm(query, axis=1, keepdims=True) * np.sqrt(BITS))
    return np.round(1 - cosine, 12)


@pytest.mark.parametrize("reranker", ["asymmetric", "float"])
@pytest.mark.parametrize("shortlist", [1, 7, 50, 200, 500])
def test_numpy_and_faiss_shortlists_give_identical_rankings(reranker, shortlist):
    pytest.importorskip("faiss")
    data = gallery_set()
    floats = query_floats(data, reranker)
    d_numpy, i_numpy = two_stage(data, shortlist, reranker, "numpy").search(data["query_codes"], floats, 60)
    d_faiss, i_faiss = two_stage(data, shortlist, reranker, "faiss").search(data["query_codes"], floats, 60)
    assert np.array_equal(i_numpy, i_faiss)
    assert np.array_equal(d_numpy, d_faiss, equal_nan=True)


def test_asymmetric_reranking_of_the_whole_gallery_is_cosine_to_the_signs_with_ties_in_gallery_order():
    data = gallery_set()
    distances, indices = two_stage(data, 10_000, "asymmetric").search(data["query_codes"], data["query_relaxed"])
    naive = naive_asymmetric(data)
    assert np.array_equal(indices, rank_rows(naive))
    assert np.allclose(distances, np.take_along_axis(naive, indices, axis=1))
    # the duplicated codes (item g and g + 100) get bit-identical distances and come in gallery order
    full = np.empty_like(distances)
    np.put_along_axis(full, indices, distances, axis=1)
    assert np.array_equal(full[:, :100], full[:, 100:])
    position = np.argsort(indices, axis=1)
    assert (position[:, :100] < position[:, 100:]).all()


def test_float_reranking_of_the_whole_gallery_equals_float_brute_force():
    data = gallery_set()
    distances, indices = two_stage(data, 200, "float").search(data["query_codes"], data["query_features"], 200)
    expected_distances, expected = FloatBruteForce().add(data["gallery_features"]).search(data["query_features"], 200)
    assert np.array_equal(indices, expected)
    assert np.allclose(distances, expected_distances, atol=1e-6)


def test_a_shortlist_of_one_keeps_the_hamming_ranking():
    data = gallery_set()
    _, indices = two_stage(data, 1, "float").search(data["query_codes"], data["query_features"])
    assert np.array_equal(indices, hamming_rank(data["query_codes"], data["gallery_codes"]))


def test_sign_valued_queries_make_the_asymmetric_reranker_rank_like_hamming():
    data = gallery_set()
    signs = np.where(unpack_codes(data["query_codes"], BITS), 1.0, -1.0)  # q . b = bits - 2 Hamming
    for shortlist in (5, 37, 200):
        _, indices = two_stage(data, shortlist, "asymmetric").search(data["query_codes"], signs)
        assert np.array_equal(indices, hamming_rank(data["query_codes"], data["gallery_codes"]))


def test_the_shortlist_is_the_hamming_top_r_cut_by_gallery_order_then_the_rest_in_hamming_order():
    data = gallery_set()
    hamming = hamming_rank(data["query_codes"], data["gallery_codes"])
    for reranker in ("asymmetric", "float"):
        search = two_stage(data, 30, reranker)
        distances, indices = search.search(data["query_codes"], query_floats(data, reranker), 80)
        assert np.array_equal(np.sort(indices[:, :30], axis=1), np.sort(hamming[:, :30], axis=1))
        assert np.array_equal(indices[:, 30:], hamming[:, 30:80])
        assert not np.isnan(distances[:, :30]).any() and np.isnan(distances[:, 30:]).all()
        assert (np.diff(distances[:, :30], axis=1) >= 0).all()
        # a top k shorter than the shortlist is the head of the same ranking
        assert np.array_equal(search.search(data["query_codes"], query_floats(data, reranker), 8)[1], indices[:, :8])


def test_k_none_or_beyond_the_gallery_returns_the_whole_gallery_once():
    data = gallery_set(gallery=40)
    search = two_stage(data, 100, "asymmetric")
    for k in (None, 40, 1000):
        _, indices = search.search(data["query_codes"], data["query_relaxed"], k)
        assert indices.shape == (15, 40)
        assert (np.sort(indices, axis=1) == np.arange(40)).all()


def test_blocks_of_queries_and_repeated_adds_change_nothing(monkeypatch):
    data = gallery_set()
    for reranker in ("asymmetric", "float"):
        floats = query_floats(data, reranker)
        whole = two_stage(data, 25, reranker).search(data["query_codes"], floats, 50)
        halves = TwoStage(25, reranker)
        for part in (slice(0, 120), slice(120, None)):
            features = data["gallery_features"][part] if reranker == "float" else None
            halves.add(data["gallery_codes"][part], features)
        assert np.array_equal(halves.search(data["query_codes"], floats, 50)[1], whole[1])
        monkeypatch.setattr(rerank, "RERANK_VALUES", 1)  # one query a block
        blocked = two_stage(data, 25, reranker).search(data["query_codes"], floats, 50)
        monkeypatch.undo()
        assert np.array_equal(blocked[1], whole[1]) and np.allclose(blocked[0], whole[0], equal_nan=True)


def test_storage_per_item_is_the_code_plus_the_float_feature_for_the_float_reranker():
    rng = np.random.default_rng(0)
    codes, features = pack_codes(rng.random((10, 48)) < 0.5), rng.standard_normal((10, 512))
    assert TwoStage(5, "asymmetric").add(codes).bytes_per_item == 6
    assert TwoStage(5, "float").add(codes, features).bytes_per_item == 6 + 4 * 512
    assert TwoStage(5, "float").add(codes, features).nbytes == 10 * (6 + 4 * 512)


def test_bad_input_is_a_clear_error():
    data = gallery_set()
    with pytest.raises(ValueError, match="unknown re-ranker"):
        TwoStage(10, "cosine")
    with pytest.raises(ValueError, match="unknown Hamming backend"):
        TwoStage(10, "float", "annoy")
    with pytest.raises(ValueError, match="at least 1 item"):
        TwoStage(0)
    with pytest.raises(ValueError, match="needs one float feature per gallery code"):
        TwoStage(10, "float").add(data["gallery_codes"])
    with pytest.raises(ValueError, match="reads only the gallery's codes"):
        TwoStage(10, "asymmetric").add(data["gallery_codes"], data["gallery_features"])
    with pytest.raises(ValueError, match="gallery is empty"):
        TwoStage(10).search(data["query_codes"], data["query_relaxed"])
    with pytest.raises(ValueError, match="one value per bit"):
        two_stage(data, 10, "asymmetric").search(data["query_codes"], data["query_features"])
    with pytest.raises(ValueError, match="12 dims, the gallery.s 24"):
        two_stage(data, 10, "float").search(data["query_codes"], data["query_relaxed"])
    with pytest.raises(ValueError, match="one float row per query"):
        two_stage(data, 10, "float").search(data["query_codes"], data["query_features"][:3])


def test_shortlist_scores_and_the_choice_rule():
    data = gallery_set(gallery=60, queries=60, seed=4)
    ids = np.arange(60)
    scores = shortlist_scores(data["query_codes"], data["query_features"], data["gallery_codes"],
                              data["gallery_features"], ids, ids, "float", shortlists=(1, 10, 60, 100))
    assert scores[60] == scores[100], "a shortlist as long as the gallery re-ranks it all"
    _, full = FloatBruteForce().add(data["gallery_features"]).search(data["query_features"], 60)
    relevant = relevance(ids, ids)
    float_top1 = 100 * np.take_along_axis(relevant, full[:, :1], axis=1).mean()
    assert scores[100]["top1"] == pytest.approx(float_top1, abs=1e-3)
    scored = {10: {"top20": 60.0}, 50: {"top20": 70.6}, 100: {"top20": 71.0}, 200: {"top20": 70.9}}
    assert choose_shortlist(scored) == 50
    assert choose_shortlist({10: {"top20": 60.0}, 50: {"top20": 70.4}, 100: {"top20": 71.0}}) == 100
    assert choose_shortlist({10: {"top1": 5.0}, 20: {"top1": 9.0}}, metric="top1", tolerance=3) == 20
    with pytest.raises(ValueError, match="no shortlist"):
        choose_shortlist({})


def test_ranking_distances_order_the_gallery_like_search_and_keep_the_tail_in_hamming_order():
    data = gallery_set()
    for reranker in ("asymmetric", "float"):
        search = two_stage(data, 30, reranker)
        floats = query_floats(data, reranker)
        full = search.ranking_distances(data["query_codes"], floats)
        distances, indices = search.search(data["query_codes"], floats)
        assert np.array_equal(rank_rows(full), indices)
        assert np.array_equal(np.take_along_axis(full, indices[:, :30], axis=1), distances[:, :30])
        assert (np.take_along_axis(full, indices[:, 30:], axis=1) == np.arange(3, 173)).all()
