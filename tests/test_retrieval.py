import csv
import json

import numpy as np
import pytest

from clothlib.data import c2s
from clothlib.data.c2s import COLUMNS
from clothlib.results import save_arrays
from clothlib.retrieval import (
    ITQ,
    LSH,
    SHORTLISTS,
    FloatBruteForce,
    NumpyHamming,
    TwoStage,
    average_precision,
    binarize,
    choose_shortlist,
    codes,
    codes_from_hex,
    codes_to_hex,
    evaluate_baselines,
    evaluate_export,
    export_files,
    hamming_distances,
    hamming_rank,
    load_export,
    mean_average_precision,
    pack_codes,
    rank_rows,
    relevance,
    retrieval_scores,
    score_codes,
    search,
    tie_aware_scores,
    topk_accuracy,
    unpack_codes,
)
from clothlib.retrieval.__main__ import main


def random_bits(n, bits, seed=0):
    return np.random.default_rng(seed).random((n, bits)) < 0.5


# --- codes -------------------------------------------------------------------------------------

def test_packing_is_big_endian_one_row_per_item_and_round_trips_12_bits():
    bits = np.array([[1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0]], dtype=bool)
    assert pack_codes(bits).tolist() == [[0b10000001, 0b11000000]]  # 12 bits: 2 bytes, last 4 bits zero
    many = random_bits(7, 12)
    packed = pack_codes(many)
    assert packed.shape == (7, 2) and packed.dtype == np.uint8
    assert np.array_equal(unpack_codes(packed, 12), many)
    assert binarize(np.array([[-0.5, 0.0, 2.0]])).tolist() == [[False, True, True]]  # >= 0 is 1


def test_codes_round_trip_through_hex_as_results_files_keep_them():
    packed = pack_codes(random_bits(5, 48))
    assert codes_to_hex(packed)[0] == packed[0].tobytes().hex() and len(codes_to_hex(packed)[0]) == 12
    assert np.array_equal(codes_from_hex(codes_to_hex(packed)), packed)


@pytest.mark.parametrize("bits", [12, 64, 100])  # one partial byte, one whole word, two words
def test_hamming_distances_equal_a_naive_bit_count(bits, monkeypatch):
    queries, gallery = random_bits(5, bits, seed=1), random_bits(23, bits, seed=2)
    naive = (queries[:, None, :] != gallery[None, :, :]).sum(-1)
    assert np.array_equal(hamming_distances(pack_codes(queries), pack_codes(gallery)), naive)
    monkeypatch.setattr(codes, "CHUNK_WORDS", 7)  # many small gallery chunks
    assert np.array_equal(hamming_distances(pack_codes(queries), pack_codes(gallery)), naive)


def test_ranking_breaks_ties_by_gallery_order():
    values = np.array([[2, 1, 2, 0, 1]])
    assert rank_rows(values).tolist() == [[3, 1, 4, 0, 2]]
    assert rank_rows(values, 2).tolist() == [[3, 1]]
    assert rank_rows(values, 4).tolist() == [[3, 1, 4, 0]], "of the tied 2s, the first in the gallery comes first"
    # query 0x00 against gallery 0x01 0x00 0x80 0x03 0x00: distances 1 0 1 2 0
    gallery = np.array([[0x01], [0x00], [0x80], [0x03], [0x00]], dtype=np.uint8)
    assert hamming_rank(np.array([[0x00]], dtype=np.uint8), gallery).tolist() == [[1, 4, 0, 2, 3]]


# --- metrics -----------------------------------------------------------------------------------

def test_relevance_matches_ids():
    assert relevance(["x", "y"], ["y", "x", "x"]).tolist() == [[False, True, True], [True, False, False]]


def test_topk_and_map_by_hand_with_ties_and_an_unanswerable_query():
    gallery = np.array([[0x01], [0x00], [0x80], [0x03], [0x00]], dtype=np.uint8)
    gallery_ids = ["a", "b", "x", "y", "x"]
    queries = np.array([[0x00], [0x03], [0xFF]], dtype=np.uint8)
    query_ids = ["x", "y", "z"]
    # query 0: distances 1 0 1 2 0 -> ranking 1 4 0 2 3; relevant items 4 and 2 at ranks 2 and 4:
    #          AP = (1/2 + 2/4) / 2 = 0.5; the tie 1-vs-4 at distance 0 goes to item 1 (gallery order)
    # query 1: distances 1 2 3 0 2 -> ranking 3 0 1 4 2; relevant item 3 at rank 1: AP = 1
    # query 2: id z is nowhere in the gallery: left out, counted
    ranking = hamming_rank(queries, gallery)
    relevant = relevance(query_ids, gallery_ids)
    assert ranking.tolist() == [[1, 4, 0, 2, 3], [3, 0, 1, 4, 2], ranking[2].tolist()]
    assert topk_accuracy(ranking, relevant, ks=(1, 2, 5)) == {"top1": 0.5, "top2": 1.0, "top5": 1.0}
    assert average_precision(ranking, relevant)[:2].tolist() == [0.5, 1.0]
    assert np.isnan(average_precision(ranking, relevant)[2])
    assert mean_average_precision(ranking, relevant) == 0.75
    assert score_codes(queries, gallery, query_ids, gallery_ids, ks=(1, 2, 5)) == {
        "top1": 50.0, "top2": 100.0, "top5": 100.0, "mAP": 75.0, "queries": 2, "queries_without_relevant": 1}


def test_average_precision_of_a_truncated_ranking_counts_unseen_relevant_items_as_missed():
    relevant = np.array([[True, False, True, False]])
    assert average_precision(np.array([[0, 1]]), relevant).tolist() == [0.5]  # (1/1) / 2


# --- search backends ---------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 7, 40, 300, 500])
def test_backends_return_identical_rankings_ties_included(k, monkeypatch):
    bits = 16  # few distinct distances: ties everywhere, also at the k-th place
    gallery_bits, query_bits = random_bits(300, bits, seed=3), random_bits(20, bits, seed=4)
    gallery, queries = pack_codes(gallery_bits), pack_codes(query_bits)
    expected = hamming_rank(queries, gallery)[:, :k]
    monkeypatch.setattr(search, "BLOCK_SCORES", 1000)  # several query blocks
    numpy_backend = NumpyHamming().add(gallery[:100]).add(gallery[100:])
    assert isinstance(numpy_backend, search.SearchBackend) and len(numpy_backend) == 300
    numpy_distances, numpy_indices = numpy_backend.search(queries, k)
    assert np.array_equal(numpy_indices, expected)
    assert np.array_equal(numpy_distances, np.take_along_axis(hamming_distances(queries, gallery), expected, 1))
    # on +-1 vectors cosine = 1 - 2 d / bits (exact in float32 at 16 bits: every term is +-1/16)
    plus_minus = lambda b: np.where(b, 1.0, -1.0).astype(np.float32)  # noqa: E731
    float_backend = FloatBruteForce().add(plus_minus(gallery_bits))
    assert isinstance(float_backend, search.SearchBackend) and len(float_backend) == 300
    float_distances, float_indices = float_backend.search(plus_minus(query_bits), k)
    assert np.array_equal(float_indices, expected)
    assert np.array_equal(float_distances * bits / 2, numpy_distances)

    pytest.importorskip("faiss")
    faiss_backend = search.FaissBinary().add(gallery)
    assert isinstance(faiss_backend, search.SearchBackend) and len(faiss_backend) == 300
    faiss_distances, faiss_indices = faiss_backend.search(queries, k)
    assert np.array_equal(faiss_indices, expected)
    assert np.array_equal(faiss_distances, numpy_distances)


def test_the_search_protocol_is_what_every_backend_declares_and_a_partial_one_lacks():
    # declared, not only duck-typed (issubclass is refused for a protocol with a property)
    backends = (NumpyHamming, FloatBruteForce, search.FaissBinary)
    assert all(search.SearchBackend in backend.__mro__ for backend in backends)

    class AddOnly:
        def add(self, gallery):
            return self

    assert not isinstance(AddOnly(), search.SearchBackend), "a duck-typed index needs search, len and nbytes too"

    class Declared(search.SearchBackend):
        def add(self, gallery):
            return self

    with pytest.raises(TypeError, match="abstract"):
        Declared()  # a backend declaring the protocol cannot be made without all of it


class HighIdsFirst:
    """A FAISS index that answers ties the other way (highest id first among equal distances):
    allowed by FAISS's contract, so FaissBinary must still return the gallery-order ranking."""

    def __init__(self, index):
        self.index, self.ntotal = index, index.ntotal

    def search(self, queries, k):
        limits, distances, indices = self.index.range_search(queries, 8 * self.index.code_size + 1)
        limits = limits.astype(np.int64)
        rows = np.array([np.lexsort((-indices[a:b], distances[a:b]))[:k] + a for a, b in zip(limits, limits[1:])])
        return distances[rows].astype(np.int32), indices[rows]

    def range_search(self, queries, radius):
        return self.index.range_search(queries, radius)


@pytest.mark.parametrize("k", [1, 7, 40])
def test_faiss_backend_imposes_the_tie_policy_whatever_faiss_returns_for_ties(k):
    pytest.importorskip("faiss")
    gallery, queries = pack_codes(random_bits(300, 16, seed=3)), pack_codes(random_bits(20, 16, seed=4))
    backend = search.FaissBinary().add(gallery)
    backend.index = HighIdsFirst(backend.index)
    padded = codes.as_words(queries).view(np.uint8)  # the index holds codes padded to whole words
    assert not np.array_equal(backend.index.search(padded, k)[1], hamming_rank(queries, gallery, k))
    assert np.array_equal(backend.search(queries, k)[1], hamming_rank(queries, gallery, k))


@pytest.mark.parametrize("bits", [12, 48, 64, 72])
def test_faiss_pads_codes_to_whole_words_and_its_distances_equal_numpys(bits):
    """FAISS scans 8-byte codes with a specialised kernel (~3x faster than 6 bytes at 48 bits):
    FaissBinary pads with zero bytes, which changes no distance."""
    pytest.importorskip("faiss")
    gallery, queries = pack_codes(random_bits(500, bits, seed=5)), pack_codes(random_bits(30, bits, seed=6))
    backend = search.FaissBinary().add(gallery[:200]).add(gallery[200:])
    assert backend.index.code_size == 8 * -(-bits // 64) and backend.nbytes == 500 * backend.index.code_size
    for k in (1, 25, 500):
        expected_distances, expected_indices = NumpyHamming().add(gallery).search(queries, k)
        distances, indices = backend.search(queries, k)
        assert np.array_equal(distances, expected_distances) and np.array_equal(indices, expected_indices)
    with pytest.raises(ValueError, match="same number of bits"):
        backend.search(pack_codes(random_bits(2, bits + 8)), 3)


def test_search_on_an_empty_gallery_says_what_to_do():
    with pytest.raises(ValueError, match="add"):
        NumpyHamming().search(pack_codes(random_bits(1, 8)), 3)


# --- baselines ---------------------------------------------------------------------------------

def correlated_features(n, dims=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 8)) @ rng.standard_normal((8, dims)) + 0.1 * rng.standard_normal((n, dims)) + 3


def test_itq_quantisation_loss_never_increases():
    itq = ITQ(bits=12, iterations=20, seed=0).fit(correlated_features(300))
    losses = np.array(itq.losses)
    assert len(losses) == 21
    assert np.all(np.diff(losses) <= 1e-9 * losses[0])
    assert losses[-1] < losses[0], "the learned rotation should beat the random start"
    assert itq.encode(correlated_features(5, seed=1)).shape == (5, 2)


def test_lsh_is_deterministic_for_a_seed_and_codes_have_the_right_shape():
    train, test = correlated_features(200), correlated_features(9, seed=1)
    codes_a = LSH(bits=20, seed=5).fit(train).encode(test)
    assert codes_a.shape == (9, 3) and codes_a.dtype == np.uint8
    assert np.array_equal(codes_a, LSH(bits=20, seed=5).fit(train).encode(test))
    assert not np.array_equal(codes_a, LSH(bits=20, seed=6).fit(train).encode(test))


def test_itq_refuses_more_bits_than_dimensions():
    with pytest.raises(ValueError, match="PCA"):
        ITQ(bits=64).fit(correlated_features(100, dims=32))


# --- evaluation CLI ----------------------------------------------------------------------------

def write_export(folder, c2s_folder):
    """Four items, each a consumer query and a shop gallery entry; items 0 and 1 share a similar id."""
    items = ["i0", "i1", "i2", "i3"]
    similar = ["tops|t|red", "tops|t|red", "bag|b|black", "shoes|s|white"]
    c2s_folder.mkdir()
    with open(c2s_folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, restval="0")
        writer.writeheader()
        writer.writerows({"item_id": item, "instance_id": item, "similar_id": group, "category": group.split("|")[0]}
                         for item, group in zip(items, similar))
    features = np.array([[1, 1, 1, -1, -1, -1, 1, 1, 1, 1, 1, 1],
                         [1, 1, -1, 1, -1, -1, 1, 1, 1, 1, 1, 1],
                         [-1, -1, 1, 1, 1, 1, -1, 1, 1, 1, 1, 1],
                         [-1, 1, -1, 1, -1, 1, 1, -1, -1, 1, 1, 1]], dtype=np.float32)
    export = {"meta": {"bits": 12, "split": "test", "c2s": str(c2s_folder), "checkpoint": "checkpoints/tiny.pt",
                       "model": "tiny"}}
    for side in ("query", "gallery"):
        export[f"{side}_codes"] = pack_codes(binarize(features))
        export[f"{side}_features"] = features
        export[f"{side}_items"] = items
    export["query_relaxed"] = 0.9 * features
    save_arrays(folder, export_files(export), export["meta"])
    return export


def random_exports(c2s_folder, items=80, bits=12, dims=16):
    """A test and a validation export of one network (12-bit codes: many ties), items in pairs of one
    similar-item group; each query's code and features are its item's gallery ones, noised."""
    rng = np.random.default_rng(0)
    c2s_folder.mkdir()
    rows, exports = [], {}
    for split in ("test", "val"):
        ids = [f"{split}{i}" for i in range(items)]
        rows += [{"item_id": item, "instance_id": item, "similar_id": f"{split}-group{i // 2}", "category": "tops",
                  "split": split} for i, item in enumerate(ids)]
        gallery = rng.standard_normal((items, dims)).astype(np.float32)
        queries = (gallery + rng.standard_normal((items, dims))).astype(np.float32)
        planes = rng.standard_normal((dims, bits))
        relaxed = np.tanh(queries @ planes)
        exports[split] = {"meta": {"bits": bits, "split": split, "c2s": str(c2s_folder), "checkpoint": "net.pt",
                                   "model": "net"},
                          "query_codes": pack_codes(binarize(relaxed)),
                          "gallery_codes": pack_codes(binarize(gallery @ planes)),
                          "query_features": queries, "gallery_features": gallery,
                          "query_relaxed": relaxed.astype(np.float32), "query_items": ids, "gallery_items": ids}
    with open(c2s_folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, restval="0")
        writer.writeheader()
        writer.writerows(rows)
    return exports


def test_cli_writes_hash_and_float_scores_for_both_protocols(tmp_path, capsys):
    export = write_export(tmp_path / "export", tmp_path / "c2s")
    computed = evaluate_export(export)
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == sorted(["export.json", *export_files(export)]), \
        "evaluating writes nothing"
    out = tmp_path / "results" / "retrieval.json"
    main(["evaluate", "--codes", str(tmp_path / "export"), "--out", str(out)])
    result = json.loads(out.read_text())
    assert {k: v for k, v in result.items() if k != "export"} == {k: v for k, v in computed.items() if k != "export"}
    assert result["export"] == str(tmp_path / "export") and computed["export"] is None
    assert (result["bits"], result["model"], result["split"]) == (12, "tiny", "test")
    for kind in ("hash", "float"):
        assert set(result[kind]) == {"instance", "similar"}
        assert set(result[kind]["instance"]) == {"top1", "top5", "top10", "top20", "top50", "top100", "mAP",
                                                 "queries", "queries_without_relevant"}
        assert result[kind]["instance"]["top1"] == 100.0  # every item's codes and features are its own nearest
    # similar protocol: items 0 and 1 are each other's second answer at Hamming distance 2,
    # behind only themselves, so both reach AP 1; items 2 and 3 are alone: mAP 100
    assert result["hash"]["similar"]["mAP"] == 100.0
    assert "wrote" in capsys.readouterr().out


def test_evaluation_reports_ties_four_ways_and_two_stage_with_r_chosen_on_validation(tmp_path, capsys):
    exports = random_exports(tmp_path / "c2s")
    for split, export in exports.items():
        save_arrays(tmp_path / split, export_files(export), export["meta"])
    result = evaluate_export(exports["test"], exports["val"])
    test = exports["test"]
    items = test["query_items"]
    for protocol in ("instance", "similar"):
        ties = result["hash_ties"][protocol]
        assert ties["gallery_order"] == result["hash"][protocol], "beside the package's tie rule, not instead"
        assert ties == tie_aware_scores(hamming_distances(test["query_codes"], test["gallery_codes"]),
                                        relevance(*[[f"{i // 2}" if protocol == "similar" else i
                                                     for i in range(len(items))]] * 2))
        for k in ("top1", "top5", "mAP"):
            assert ties["pessimistic"][k] <= ties["expected"][k] <= ties["optimistic"][k]
    instance = result["hash_ties"]["instance"]
    assert instance["optimistic"]["top1"] > instance["pessimistic"]["top1"], "12-bit codes tie: the bounds differ"
    for reranker in ("asymmetric", "float"):
        stage = result["two_stage"][reranker]
        assert list(stage["validation"]) == [str(r) for r in SHORTLISTS]
        # R is the validation rule's choice, and the test scores are those of TwoStage at that R
        assert stage["shortlist"] == choose_shortlist({int(r): s for r, s in stage["validation"].items()})
        floats = test["query_features"] if reranker == "float" else test["query_relaxed"]
        search = TwoStage(stage["shortlist"], reranker).add(test["gallery_codes"],
                                                            test["gallery_features"] if reranker == "float" else None)
        ranking = search.search(test["query_codes"], floats)[1]
        assert stage["instance"]["gallery_order"] == retrieval_scores(ranking, relevance(items, items))
    assert result["two_stage"]["rule"]["chosen_on"] == "val"
    assert result["bytes_per_item"] == {"hash": 2, "float": 64, "two_stage_asymmetric": 2, "two_stage_float": 66}
    # the command line writes what the library returns
    main(["evaluate", "--codes", str(tmp_path / "test"), "--validation", str(tmp_path / "val"),
          "--out", str(tmp_path / "scores.json")])
    written = json.loads((tmp_path / "scores.json").read_text())
    assert {k: v for k, v in written.items() if k != "export"} == json.loads(
        json.dumps({k: v for k, v in result.items() if k != "export"}))
    assert "two-stage float" in capsys.readouterr().out


def test_two_stage_refuses_a_shortlist_chosen_on_the_scored_split_or_another_network(tmp_path):
    exports = random_exports(tmp_path / "c2s")
    with pytest.raises(ValueError, match="choose it on another split"):
        evaluate_export(exports["test"], exports["test"])
    other = {**exports["val"], "meta": {**exports["val"]["meta"], "checkpoint": "other.pt"}}
    with pytest.raises(ValueError, match="same checkpoint"):
        evaluate_export(exports["test"], other)
    assert "two_stage" not in evaluate_export(exports["test"]), "no validation export, no two-stage rows"


def test_an_export_reads_back_as_it_was_computed(tmp_path):
    export = write_export(tmp_path / "export", tmp_path / "c2s")
    loaded = load_export(tmp_path / "export")
    assert loaded["query_items"] == export["query_items"] and isinstance(loaded["query_items"], list)
    assert np.array_equal(loaded["gallery_codes"], export["gallery_codes"]) and loaded["meta"] == export["meta"]


def test_an_incomplete_export_names_the_missing_files(tmp_path):
    write_export(tmp_path / "export", tmp_path / "c2s")
    (tmp_path / "export" / "gallery_codes.npy").unlink()
    with pytest.raises(FileNotFoundError, match="gallery_codes.npy"):
        load_export(tmp_path / "export")


def test_baselines_take_feature_arrays_and_fit_on_the_training_views_only():
    fit_on, items = correlated_features(200), correlated_features(30, seed=1)
    ids = {"instance": list(range(30)), "similar": [i // 3 for i in range(30)]}
    rows = evaluate_baselines(fit_on, items, items, ids, bits=(16, 32))
    assert set(rows) == {"raw_features", "LSH-16", "ITQ-16", "LSH-32", "ITQ-32"}
    assert rows["raw_features"]["instance"]["top1"] == 100.0  # identical query and gallery features
    # fitted on fit_on, not on the items: other training features, other ITQ codes
    refit = evaluate_baselines(correlated_features(200, seed=7), items, items, ids, bits=(16,))
    assert refit["raw_features"] == rows["raw_features"]
    itq = ITQ(16).fit(fit_on)
    expected = score_codes(itq.encode(items), itq.encode(items), ids["instance"], ids["instance"])
    assert rows["ITQ-16"]["instance"] == expected


def test_baselines_cli_fetches_backbone_features_and_writes_the_file(cache_in, tmp_path):
    """The retrieval command line, not the retrieval package, fetches the features from hashing."""
    out = tmp_path / "baselines.json"
    main(["baselines", "--out", str(out), "--c2s", str(cache_in)])
    result = json.loads(out.read_text())
    test_items = [row for row in c2s.load_manifest(cache_in) if row["split"] == "test"]
    train_items = [row for row in c2s.load_manifest(cache_in) if row["split"] == "train"]
    assert result["queries"] == len(test_items) and result["fitted_on"] == f"train split, {2 * len(train_items)} views"
    assert {"raw_features", "LSH-16", "ITQ-64"} <= set(result["rows"])
