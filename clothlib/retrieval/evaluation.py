"""Score an encode export: consumer-view queries against the shop-view gallery, by Hamming
ranking of the hash codes and by cosine ranking of the float features they were cut from, under
both protocols of the consumer-to-shop set (same instance, or same similar-item group).

An export (:func:`clothlib.hashing.encode` returns one; ``python -m clothlib.hashing encode``
writes it as a folder of ``.npy`` files, :func:`load_export` reads it back) holds the packed
``query_codes`` and ``gallery_codes`` (one row per item), the float32 ``query_features`` and
``gallery_features``, the ``query_items`` and ``gallery_items`` (item ids in row order) and
``meta`` (``bits``, ``split``, ``c2s``: the consumer-to-shop folder, and the ``checkpoint`` /
``model`` it came from). The float ranking is the ceiling the codes try to reach with 1 bit a
dimension. Everything here computes and returns; the command line writes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..data.c2s import PROTOCOLS, load_manifest
from .baselines import ITQ, LSH
from .codes import hamming_distances, hamming_rank, rank_rows
from .metrics import TOP_K, relevance, retrieval_scores
from .search import FloatBruteForce

EXPORT_ARRAYS = ("query_codes", "gallery_codes", "query_features", "gallery_features", "query_items", "gallery_items")
EXPORT_META = "export.json"  # written last: its presence marks a whole export


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


def export_files(export: dict) -> dict[str, np.ndarray]:
    """The arrays of an export as the files of its folder (``<name>.npy``; item ids as strings), for
    ``clothlib.results.save_arrays``; :func:`load_export` reads them back."""
    return {f"{name}.npy": np.asarray(export[name]) for name in EXPORT_ARRAYS}


def load_export(folder: str | os.PathLike) -> dict:
    """The export in ``folder``: its arrays, item ids and metadata, checked to agree with each other."""
    folder = Path(folder)
    names = [EXPORT_META, *(f"{array}.npy" for array in EXPORT_ARRAYS)]
    missing = [name for name in names if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a complete encode export (missing {', '.join(missing)}); write "
                                "one with `python -m clothlib.hashing encode --checkpoint CHECKPOINT --out DIR`.")
    export = {"meta": json.loads((folder / EXPORT_META).read_text()), "folder": str(folder)}
    for name in EXPORT_ARRAYS:
        export[name] = np.load(folder / f"{name}.npy")
    for side in ("query", "gallery"):
        export[f"{side}_items"] = export[f"{side}_items"].tolist()
        rows = {len(export[f"{side}_{part}"]) for part in ("codes", "features", "items")}
        if len(rows) != 1:
            raise ValueError(f"{folder}: the {side} codes, features and item list have different lengths; "
                             "the export is inconsistent, write it again.")
    return export


def evaluate_export(export: dict) -> dict:
    """Hash and float scores under both protocols of an export (:func:`load_export`, or
    ``clothlib.hashing.encode``'s return), with its provenance."""
    meta = export["meta"]
    items = {row["item_id"]: row for row in load_manifest(meta["c2s"])}
    unknown = [item for item in export["query_items"] + export["gallery_items"] if item not in items]
    if unknown:
        raise KeyError(f"{len(unknown)} exported items (e.g. {unknown[0]}) are not in {meta['c2s']}/manifest.csv: "
                       "the export was made from another build of the consumer-to-shop set; encode again.")
    result = {"export": export.get("folder"), "bits": meta["bits"], "model": meta.get("model"),
              "checkpoint": meta.get("checkpoint"), "split": meta["split"],
              "queries": len(export["query_items"]), "gallery": len(export["gallery_items"]),
              "hash": {}, "float": {}}
    query_ids, gallery_ids = ({p: [items[item][key] for item in export[f"{side}_items"]]
                               for p, key in PROTOCOLS.items()} for side in ("query", "gallery"))
    hamming = hamming_rank(export["query_codes"], export["gallery_codes"])
    cosine = float_rank(export["query_features"], export["gallery_features"])
    result["hash"] = _by_protocol(hamming, query_ids, gallery_ids)
    result["float"] = _by_protocol(cosine, query_ids, gallery_ids)
    return result


def evaluate_baselines(fit_on: np.ndarray, queries: np.ndarray, gallery: np.ndarray, ids: dict[str, list],
                       bits=(16, 32, 48, 64), seed: int = 0) -> dict:
    """The rows of Table 5 that need no hashing network, on backbone features: the raw features
    (cosine), and LSH and ITQ codes of them at each length in ``bits``, fitted on ``fit_on`` (the
    training split's views, never the queries or gallery). Query ``i`` and gallery item ``i`` are one
    item, whose id under each protocol is ``ids[protocol][i]``."""
    rows = {"raw_features": _by_protocol(float_rank(queries, gallery), ids, ids)}
    for length in bits:
        for name, method in (("LSH", LSH(length, seed)), ("ITQ", ITQ(length, seed=seed))):
            method.fit(fit_on)
            ranking = hamming_rank(method.encode(queries), method.encode(gallery))
            rows[f"{name}-{length}"] = _by_protocol(ranking, ids, ids)
    return rows


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
