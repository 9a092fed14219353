"""Score an encode export: consumer-view queries against the shop-view gallery, by Hamming
ranking of the hash codes and by cosine ranking of the float features they were cut from, under
both protocols of the consumer-to-shop set (same instance, or same similar-item group).

An export (:func:`clothlib.hashing.encode` returns one; ``python -m clothlib.hashing encode``
writes it as a folder of ``.npy`` files, :func:`load_export` reads it back) holds the packed
``query_codes`` and ``gallery_codes`` (one row per item), the float32 ``query_features`` and
``gallery_features``, the queries' relaxed codes ``query_relaxed`` (the hash layer's outputs before
the sign), the ``query_items`` and ``gallery_items`` (item ids in row order) and ``meta`` (``bits``,
``split``, ``c2s``: the consumer-to-shop folder, and the ``checkpoint`` / ``model`` it came from).
The float ranking is the ceiling the codes try to reach with 1 bit a dimension.

Beside the plain scores (ties in gallery order, the package's rule) :func:`evaluate_export` reports
what ties are worth (:mod:`clothlib.retrieval.ties`: expected under a random order within ties,
optimistic and pessimistic bounds) and, given an export of another split to choose the shortlist
length on, two-stage search (:mod:`clothlib.retrieval.rerank`), with the storage each mode needs
per gallery item. Everything here computes and returns; the command line writes.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.c2s import load_manifest
from ..data.pairs import PROTOCOLS
from ..results import artifact_name, load_arrays
from .baselines import ITQ, LSH
from .codes import hamming_distances, hamming_rank, rank_rows
from .metrics import TOP_K, relevance, retrieval_scores
from .rerank import (
    RERANKERS,
    SHORTLIST_METRIC,
    SHORTLIST_TOLERANCE,
    SHORTLISTS,
    TwoStage,
    choose_shortlist,
    shortlist_scores,
)
from .search import FloatBruteForce
from .ties import tie_aware_scores

EXPORT_ARRAYS = ("query_codes", "gallery_codes", "query_features", "gallery_features", "query_relaxed", "query_items",
                 "gallery_items")
EXPORT_META = artifact_name("export")  # written last: its presence marks a whole export
ENCODE_COMMAND = "python -m clothlib.hashing encode --checkpoint CHECKPOINT --out DIR"
FLOAT_BYTES = 4  # float32 features
SHORTLIST_PROTOCOL = "instance"  # the protocol whose validation score chooses the shortlist length


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
    """The export in ``folder``: its arrays (each checked against the checksum its ``export.json``
    records, so a half-rewritten folder never scores as one export), item ids and metadata,
    checked to agree with each other."""
    folder = Path(folder)
    meta, arrays = load_arrays(folder, ENCODE_COMMAND, EXPORT_META)
    missing = [f"{name}.npy" for name in EXPORT_ARRAYS if f"{name}.npy" not in arrays]
    if missing:
        raise FileNotFoundError(f"{folder} is not a complete encode export (missing {', '.join(missing)}); write "
                                f"one with `{ENCODE_COMMAND}`.")
    export = {"meta": meta, "folder": str(folder), **{name: arrays[f"{name}.npy"] for name in EXPORT_ARRAYS}}
    sides = {"query": ("codes", "features", "relaxed", "items"), "gallery": ("codes", "features", "items")}
    for side, parts in sides.items():
        export[f"{side}_items"] = export[f"{side}_items"].tolist()
        rows = {len(export[f"{side}_{part}"]) for part in parts}
        if len(rows) != 1:
            raise ValueError(f"{folder}: the {side} {', '.join(parts)} have different lengths; "
                             "the export is inconsistent, write it again.")
    return export


def _protocol_ids(export: dict) -> tuple[dict, dict]:
    """``({protocol: query ids}, {protocol: gallery ids})`` of an export's items, from its set's manifest."""
    meta = export["meta"]
    items = {row["item_id"]: row for row in load_manifest(meta["c2s"])}
    unknown = [item for item in export["query_items"] + export["gallery_items"] if item not in items]
    if unknown:
        raise KeyError(f"{len(unknown)} exported items (e.g. {unknown[0]}) are not in {meta['c2s']}/manifest.csv: "
                       "the export was made from another build of the consumer-to-shop set; encode again.")
    return tuple({p: [items[item][key] for item in export[f"{side}_items"]] for p, key in PROTOCOLS.items()}
                 for side in ("query", "gallery"))


def _rerank_inputs(export: dict, reranker: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(query floats, gallery features) that ``reranker`` reads from an export: the relaxed query
    codes alone for ``"asymmetric"``, the float features of both sides for ``"float"``."""
    if reranker == "asymmetric":
        return export["query_relaxed"], None
    return export["query_features"], export["gallery_features"]


def evaluate_two_stage(export: dict, validation: dict, shortlists=SHORTLISTS) -> dict:
    """Two-stage search of ``export`` with each re-ranker (:mod:`clothlib.retrieval.rerank`): the
    shortlist length R chosen on ``validation`` (an export of another split by the same network:
    the smallest R whose instance top-20 is within ``SHORTLIST_TOLERANCE`` points of the best of
    ``shortlists``), then the export's scores at that R under both protocols, four ways
    (:func:`~clothlib.retrieval.ties.tie_aware_scores`), and what the gallery stores per item."""
    meta, chosen_on = export["meta"], validation["meta"]
    if (chosen_on.get("checkpoint"), chosen_on["bits"]) != (meta.get("checkpoint"), meta["bits"]):
        raise ValueError(f"the validation export comes from {chosen_on.get('checkpoint')} ({chosen_on['bits']} bits), "
                         f"the scored one from {meta.get('checkpoint')} ({meta['bits']} bits): encode both splits "
                         "with the same checkpoint")
    if chosen_on["split"] == meta["split"]:
        raise ValueError(f"the shortlist length would be chosen on the {meta['split']} split it is scored on; "
                         "choose it on another split (`python -m clothlib.hashing encode --split val ...`)")
    query_ids, gallery_ids = _protocol_ids(export)
    val_query_ids, val_gallery_ids = _protocol_ids(validation)
    result = {"rule": {"candidates": list(shortlists), "metric": SHORTLIST_METRIC, "protocol": SHORTLIST_PROTOCOL,
                       "tolerance_points": SHORTLIST_TOLERANCE, "chosen_on": chosen_on["split"],
                       "validation_queries": len(validation["query_items"]),
                       "rule": "the smallest R whose validation metric is within the tolerance of the best R's"}}
    for reranker in RERANKERS:
        query_floats, gallery_features = _rerank_inputs(validation, reranker)
        scores = shortlist_scores(validation["query_codes"], query_floats, validation["gallery_codes"],
                                  gallery_features, val_query_ids[SHORTLIST_PROTOCOL],
                                  val_gallery_ids[SHORTLIST_PROTOCOL], reranker, shortlists)
        shortlist = choose_shortlist(scores)
        query_floats, gallery_features = _rerank_inputs(export, reranker)
        search = TwoStage(shortlist, reranker).add(export["gallery_codes"], gallery_features)
        distances = search.ranking_distances(export["query_codes"], query_floats)
        result[reranker] = {"shortlist": shortlist, "bytes_per_item": search.bytes_per_item,
                            "validation": {str(r): s for r, s in scores.items()},
                            **{p: tie_aware_scores(distances, relevance(query_ids[p], gallery_ids[p]))
                               for p in query_ids}}
    return result


def evaluate_export(export: dict, validation: dict | None = None) -> dict:
    """Scores of an export (:func:`load_export`, or ``clothlib.hashing.encode``'s return) under both
    protocols, with its provenance: ``hash`` and ``float`` (top-k and mAP, ties in gallery order),
    ``hash_ties`` (the Hamming ranking's scores four ways: gallery order, expected under a random
    order within ties, optimistic and pessimistic), and ``bytes_per_item`` (what the gallery stores
    per item in each mode). Given ``validation``, an export of another split by the same network,
    also ``two_stage`` (:func:`evaluate_two_stage`)."""
    meta = export["meta"]
    result = {"export": export.get("folder"), "bits": meta["bits"], "model": meta.get("model"),
              "checkpoint": meta.get("checkpoint"), "split": meta["split"],
              "queries": len(export["query_items"]), "gallery": len(export["gallery_items"]),
              "hash": {}, "float": {}}
    query_ids, gallery_ids = _protocol_ids(export)
    distances = hamming_distances(export["query_codes"], export["gallery_codes"])
    cosine = float_rank(export["query_features"], export["gallery_features"])
    result["hash"] = _by_protocol(rank_rows(distances), query_ids, gallery_ids)
    result["float"] = _by_protocol(cosine, query_ids, gallery_ids)
    result["hash_ties"] = {p: tie_aware_scores(distances, relevance(query_ids[p], gallery_ids[p])) for p in query_ids}
    result["bytes_per_item"] = {"hash": export["gallery_codes"].shape[1],
                                "float": FLOAT_BYTES * export["gallery_features"].shape[1]}
    if validation is not None:
        result["two_stage"] = evaluate_two_stage(export, validation)
        result["bytes_per_item"].update({f"two_stage_{reranker}": result["two_stage"][reranker]["bytes_per_item"]
                                         for reranker in RERANKERS})
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
