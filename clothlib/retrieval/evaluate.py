"""Score an encode export: consumer-view queries against the shop-view gallery, by Hamming
ranking of the hash codes and by cosine ranking of the float features they were cut from, under
both protocols of the consumer-to-shop set (same instance, or same similar-item group).

An export folder (written by :mod:`clothlib.hashing`'s encode step) holds ``query_codes.npy`` and
``gallery_codes.npy`` (packed bits, one row per item), ``query_features.npy`` and
``gallery_features.npy`` (float32), ``query_items.txt`` and ``gallery_items.txt`` (item ids in
row order) and ``export.json`` (``bits``, ``split``, ``c2s``: the consumer-to-shop folder, and
the ``checkpoint`` / ``model`` it came from). The float ranking is the ceiling the codes try to
reach with 1 bit a dimension.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..data.c2s import PROTOCOLS, load_manifest
from ..io import atomic_write
from .baselines import ITQ, LSH
from .codes import hamming_distances, hamming_rank, rank_rows
from .metrics import TOP_K, relevance, retrieval_scores
from .search import FloatBruteForce

EXPORT_FILES = ("export.json", "query_codes.npy", "gallery_codes.npy", "query_features.npy",
                "gallery_features.npy", "query_items.txt", "gallery_items.txt")
RESULT_NAME = "retrieval.json"  # written inside the export folder unless told otherwise


def score_codes(query_packed: np.ndarray, gallery_packed: np.ndarray, query_ids, gallery_ids, ks=TOP_K) -> dict:
    """Top-k and mAP of the full Hamming ranking (ties in gallery order); relevant = same id."""
    return retrieval_scores(hamming_rank(query_packed, gallery_packed), relevance(query_ids, gallery_ids), ks)


def float_rank(query_features: np.ndarray, gallery_features: np.ndarray) -> np.ndarray:
    """``(Q, G)`` gallery indices ranked by cosine distance of float features (ties in gallery order)."""
    return FloatBruteForce().add(gallery_features).search(query_features, len(gallery_features))[1]


def _by_protocol(ranking: np.ndarray, query_ids: dict, gallery_ids: dict) -> dict:
    """One ranking scored under each protocol (``{protocol: ids}``): the ranking is computed once,
    only what counts as relevant changes."""
    return {p: retrieval_scores(ranking, relevance(query_ids[p], gallery_ids[p])) for p in query_ids}


def load_export(folder: str | os.PathLike) -> dict:
    """The export's arrays, item ids and metadata, checked to agree with each other."""
    folder = Path(folder)
    missing = [name for name in EXPORT_FILES if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a complete encode export (missing {', '.join(missing)}); write "
                                "one with `python -m clothlib.hashing encode --checkpoint CHECKPOINT --out DIR`.")
    export = {"meta": json.loads((folder / "export.json").read_text())}
    for side in ("query", "gallery"):
        export[f"{side}_codes"] = np.load(folder / f"{side}_codes.npy")
        export[f"{side}_features"] = np.load(folder / f"{side}_features.npy")
        export[f"{side}_items"] = (folder / f"{side}_items.txt").read_text().splitlines()
        rows = {len(export[f"{side}_{part}"]) for part in ("codes", "features", "items")}
        if len(rows) != 1:
            raise ValueError(f"{folder}: the {side} codes, features and item list have different lengths; "
                             "the export is inconsistent, write it again.")
    return export


def evaluate_export(folder: str | os.PathLike) -> dict:
    """Hash and float scores under both protocols, with the export's provenance."""
    export = load_export(folder)
    meta = export["meta"]
    items = {row["item_id"]: row for row in load_manifest(meta["c2s"])}
    unknown = [item for item in export["query_items"] + export["gallery_items"] if item not in items]
    if unknown:
        raise KeyError(f"{len(unknown)} exported items (e.g. {unknown[0]}) are not in {meta['c2s']}/manifest.csv: "
                       "the export was made from another build of the consumer-to-shop set; encode again.")
    result = {"export": str(folder), "bits": meta["bits"], "model": meta.get("model"),
              "checkpoint": meta.get("checkpoint"), "split": meta["split"],
              "queries": len(export["query_items"]), "gallery": len(export["gallery_items"]),
              "hash": {}, "float": {}}
    query_ids, gallery_ids = ({p: [items[item][key] for item in export[f"{side}_items"]] for p, key in PROTOCOLS.items()}
                              for side in ("query", "gallery"))
    result["hash"] = _by_protocol(hamming_rank(export["query_codes"], export["gallery_codes"]), query_ids, gallery_ids)
    result["float"] = _by_protocol(float_rank(export["query_features"], export["gallery_features"]), query_ids, gallery_ids)
    return result


def write_evaluation(folder: str | os.PathLike, out: str | os.PathLike | None = None) -> tuple[Path, dict]:
    """:func:`evaluate_export` written atomically to ``out`` (default ``<folder>/retrieval.json``);
    returns the path and the result."""
    out = Path(out or Path(folder) / RESULT_NAME)
    result = evaluate_export(folder)
    with atomic_write(out) as f:
        json.dump(result, f, indent=1)
    return out, result


def evaluate_baselines(folder: str | os.PathLike, backbone: str = "imagenet", bits=(16, 32, 48, 64),
                       split: str = "test", seed: int = 0, progress: bool = True) -> dict:
    """The rows of Table 5 that need no hashing network, on the frozen backbone's features of
    ``split``: the raw features (cosine), and LSH and ITQ codes of them at each length in ``bits``,
    both fitted on the training split's views (consumer and shop)."""
    from ..hashing.features import split_features

    items = {row["item_id"]: row for row in load_manifest(folder)}
    train = split_features(folder, "train", backbone, progress)
    test = split_features(folder, split, backbone, progress)
    fit_on = np.concatenate([train["consumer"][:, 0], train["shop"][:, 0]])
    queries, gallery = test["consumer"][:, 0], test["shop"][:, 0]
    ids = {protocol: [items[str(item)][key] for item in test["item_ids"]] for protocol, key in PROTOCOLS.items()}
    rows = {"raw_features": _by_protocol(float_rank(queries, gallery), ids, ids)}
    for length in bits:
        for name, method in (("LSH", LSH(length, seed)), ("ITQ", ITQ(length, seed=seed))):
            method.fit(fit_on)
            rows[f"{name}-{length}"] = _by_protocol(hamming_rank(method.encode(queries), method.encode(gallery)), ids, ids)
    return {"backbone": backbone, "split": split, "c2s": str(Path(folder).resolve()), "queries": len(queries),
            "fitted_on": f"train split, {len(fit_on)} views", "seed": seed, "rows": rows}


def ranked_examples(export: dict, query_indices, k: int = 10, protocol: str = "instance") -> list[dict]:
    """For each query of a loaded export (:func:`load_export`): its consumer view, its rank-ordered
    top-k shop views with Hamming distances, whether each is relevant, and the rank of its first
    relevant item (0-based)."""
    meta = export["meta"]
    folder = Path(meta["c2s"])
    items = {row["item_id"]: row for row in load_manifest(folder)}
    key = PROTOCOLS[protocol]
    gallery = export["gallery_items"]
    gallery_ids = np.array([items[g][key] for g in gallery])
    examples = []
    for index in query_indices:
        query = export["query_items"][index]
        distances = hamming_distances(export["query_codes"][index:index + 1], export["gallery_codes"])
        ranking, distances = rank_rows(distances)[0], distances[0]
        relevant = gallery_ids[ranking] == items[query][key]
        examples.append({"item_id": query, "query_view": folder / items[query]["consumer"],
                         "first_relevant": int(np.argmax(relevant)) if relevant.any() else None,
                         "matches": [{"item_id": gallery[g], "shop_view": folder / items[gallery[g]]["shop"],
                                      "distance": int(distances[g]), "relevant": bool(r)}
                                     for g, r in zip(ranking[:k], relevant[:k])]})
    return examples
