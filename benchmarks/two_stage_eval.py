"""Two-stage search and tie-aware scores of a shipped hashing network on the consumer-to-shop set.

For one checkpoint (default ``checkpoints/hash_catt3_net_48.pt``), on the test split, instance
protocol (consumer view -> shop views, the same item is the one right answer):

- plain Hamming search: top-k and mAP with ties in gallery order (the package's rule), expected
  under a random order within ties (closed form), and the optimistic / pessimistic bounds;
- the float features (cosine), the ceiling the codes are measured against;
- two-stage search (:mod:`clothlib.retrieval.rerank`), both re-rankers: the shortlist length R
  chosen on the validation split (smallest R within 0.5 points of the best validation top-20), the
  test scores at that R (and at R = 100 for reference), with the same four tie views;
- storage per gallery item of each mode.

The codes, relaxed codes and float features come from the network's forward pass over the cached
backbone features of the split's views (``clothlib.hashing``), on the consumer-to-shop set the
checkpoint names (``data/c2s`` by default: build it with ``python data_scripts/build_c2s.py``).

    python benchmarks/two_stage_eval.py [--checkpoint PATH] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from clothlib import __version__
from clothlib.config import settings
from clothlib.data import c2s
from clothlib.hashing import forward_views, load_checkpoint, load_split_data
from clothlib.results import save_json
from clothlib.retrieval import FloatBruteForce, hamming_distances, pack_codes, relevance, retrieval_scores
from clothlib.retrieval.rerank import (
    RERANKERS,
    SHORTLIST_METRIC,
    SHORTLIST_TOLERANCE,
    SHORTLISTS,
    TwoStage,
    choose_shortlist,
    shortlist_scores,
)
from clothlib.retrieval.ties import tie_aware_scores

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "two_stage_eval.json")
REFERENCE_SHORTLIST = 100  # the quick check re-ranked the Hamming top 100
FLOAT_BYTES = 4  # float32 features


def split_arrays(model, config, split: str, folder: Path) -> dict:
    """Packed codes, relaxed codes (tanh, before the sign), float features and item ids of the
    split's consumer (query) and shop (gallery) views."""
    data = load_split_data(config, split, progress=False, folder=folder)
    views = forward_views(model, data)
    arrays = {"ids": list(data.item_ids)}
    for side, view in (("query", "consumer"), ("gallery", "shop")):
        relaxed = views[view]["codes"].numpy().astype(np.float64)
        arrays[f"{side}_codes"] = pack_codes(relaxed >= 0)
        arrays[f"{side}_relaxed"] = relaxed
        arrays[f"{side}_features"] = views[view]["features"].numpy().astype(np.float32)
    return arrays


def rerank_inputs(arrays: dict, reranker: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(query floats, gallery features) a re-ranker reads."""
    if reranker == "asymmetric":
        return arrays["query_relaxed"], None
    return arrays["query_features"], arrays["gallery_features"]


def float_distances(arrays: dict) -> np.ndarray:
    """``(Q, G)`` cosine distances of the float features, as :class:`FloatBruteForce` computes them."""
    gallery = len(arrays["gallery_features"])
    distances, indices = FloatBruteForce().add(arrays["gallery_features"]).search(arrays["query_features"], gallery)
    full = np.empty_like(distances)
    np.put_along_axis(full, indices, distances, axis=1)
    return full


def two_stage(val: dict, test: dict, reranker: str) -> dict:
    """R chosen on validation; test scores (four tie views) at that R, gallery-order scores at the
    reference R; and whether the NumPy and FAISS shortlists give the same test ranking."""
    query_floats, gallery_features = rerank_inputs(val, reranker)
    validation = shortlist_scores(val["query_codes"], query_floats, val["gallery_codes"], gallery_features,
                                  val["ids"], val["ids"], reranker, SHORTLISTS)
    shortlist = choose_shortlist(validation)
    query_floats, gallery_features = rerank_inputs(test, reranker)
    relevant = relevance(test["ids"], test["ids"])
    searches = {backend: TwoStage(shortlist, reranker, backend).add(test["gallery_codes"], gallery_features)
                for backend in ("numpy", "faiss")}
    rankings = {backend: search.search(test["query_codes"], query_floats)[1] for backend, search in searches.items()}
    reference = TwoStage(REFERENCE_SHORTLIST, reranker).add(test["gallery_codes"], gallery_features)
    return {"shortlist": shortlist, "validation": {str(r): scores for r, scores in validation.items()},
            "bytes_per_item": searches["numpy"].bytes_per_item,
            "test": tie_aware_scores(searches["numpy"].ranking_distances(test["query_codes"], query_floats), relevant),
            f"test_shortlist_{REFERENCE_SHORTLIST}": retrieval_scores(
                reference.search(test["query_codes"], query_floats)[1], relevant),
            "numpy_faiss_identical_rankings": bool(np.array_equal(rankings["numpy"], rankings["faiss"]))}


def versus(scores: dict, float_scores: dict) -> dict:
    """The issue's goals measure a mode against the float features: share of their top-20, top-1 gap."""
    return {"top20_share_of_float": round(scores["top20"] / float_scores["top20"], 4),
            "top1_points_below_float": round(float_scores["top1"] - scores["top1"], 3)}


def saturation(arrays: dict) -> dict:
    """How much the asymmetric re-ranker has to work with: relaxed query values pinned at +-1 carry
    no more than their sign, and gallery items sharing a code can only tie."""
    magnitude = np.abs(arrays["query_relaxed"])
    return {"query_values_above_0.99": round(float((magnitude > 0.99).mean()), 4),
            "query_values_exactly_1": round(float((magnitude == 1).mean()), 4),
            "distinct_gallery_codes": len(np.unique(arrays["gallery_codes"], axis=0)),
            "gallery_items": len(arrays["gallery_codes"])}


def evaluate(checkpoint: Path) -> dict:
    model, config, released = load_checkpoint(checkpoint)
    folder = Path(config.folder)
    val, test = (split_arrays(model, config, split, folder) for split in ("val", "test"))
    relevant = relevance(test["ids"], test["ids"])
    bits, dims = config.bits, test["gallery_features"].shape[1]
    rows = {"hamming": tie_aware_scores(hamming_distances(test["query_codes"], test["gallery_codes"]), relevant),
            "float": tie_aware_scores(float_distances(test), relevant)}
    stages = {reranker: two_stage(val, test, reranker) for reranker in RERANKERS}
    ranked = {"hamming": rows["hamming"], **{f"two_stage_{name}": stage["test"] for name, stage in stages.items()}}
    comparison = {name: versus(scores["gallery_order"], rows["float"]["gallery_order"])
                  for name, scores in ranked.items()}
    built = c2s.load_meta(folder)
    storage = {"hamming": bits / 8, **{f"two_stage_{name}": stage["bytes_per_item"] for name, stage in stages.items()},
               "float": FLOAT_BYTES * dims}
    return {"checkpoint": checkpoint.name, "model": config.model, "bits": bits, "feature_dims": dims,
            "protocol": "instance", "c2s": str(folder),
            "c2s_pseudo_photos": {"evaluated_set": built["config"]["pseudo_photos"],
                                  "training_set": released["c2s_config"]["pseudo_photos"]},
            "splits": {name: {"queries": len(arrays["ids"]), "gallery": len(arrays["ids"])}
                       for name, arrays in (("val", val), ("test", test))},
            "shortlist_rule": {"candidates": list(SHORTLISTS), "metric": SHORTLIST_METRIC,
                               "tolerance_points": SHORTLIST_TOLERANCE, "chosen_on": "val",
                               "rule": "smallest R whose validation metric is within the tolerance of the best R's"},
            "test": {**rows, **{f"two_stage_{name}": result for name, result in stages.items()}},
            "storage_bytes_per_item": storage,
            "comparison_to_float": comparison, "relaxed_codes": saturation(test), "clothlib": __version__}


def print_summary(result: dict) -> None:
    test = result["test"]
    print(f"{result['model']} {result['bits']} bits, test split: {result['splits']['test']['queries']} queries, "
          f"{result['splits']['test']['gallery']} gallery items ({result['protocol']} protocol)")
    columns = ("top1", "top5", "top10", "top20", "mAP")
    print(f"{'':<44}" + "".join(f"{name:>8}" for name in columns))
    for name in ("hamming", "float", "two_stage_asymmetric", "two_stage_float"):
        label = name if not name.startswith("two_stage") else f"{name} (R={test[name]['shortlist']})"
        scores = test[name]["test"] if name.startswith("two_stage") else test[name]
        for view in ("gallery_order", "expected", "optimistic", "pessimistic"):
            print(f"{label + ' ' + view:<44}" + "".join(f"{scores[view][c]:>8.2f}" for c in columns))
    print("storage bytes per item:", result["storage_bytes_per_item"])
    print("vs float:", json.dumps(result["comparison_to_float"]))
    print("relaxed codes:", json.dumps(result["relaxed_codes"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(settings.checkpoint_dir / "hash_catt3_net_48.pt"))
    parser.add_argument("--out", default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    result = evaluate(Path(args.checkpoint))
    print_summary(result)
    print(f"wrote {save_json(args.out, result)}")


if __name__ == "__main__":
    main()
