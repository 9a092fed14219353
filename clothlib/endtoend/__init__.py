"""The end-to-end evaluation: retrieval with queries cut by the parsing network, not by
the ground-truth box.

For every ground-truth item of a split, the garment of the same class in the *parsed* photo is the
query and the item's own shop view the answer, so the score counts what parsing loses: a class the
parser misses, a box it cuts too wide or too narrow. It runs the whole :class:`~clothlib.pipeline.ClothingRetriever`
(with and without the dense CRF); ``python -m clothlib.endtoend`` saves what it returns.
"""
from __future__ import annotations

import numpy as np

from ..config import progress_bar
from ..data.c2s import load_manifest
from ..data.ccp import read_photo
from ..pipeline import ClothingRetriever
from ..retrieval import TOP_K


def evaluate_end_to_end(retriever: ClothingRetriever, split: str = "test", crf: bool = True,
                        ks=TOP_K, max_photos: int | None = None, progress: bool = True) -> dict:
    """Top-k of queries cut from *predicted* masks: for every ground-truth item of ``split`` in
    ``retriever.folder``, the garment of the same class in the parsed photo is the query and the
    item's own shop view the answer. An item whose class the parser misses counts as not found."""
    items = [row for row in load_manifest(retriever.folder) if row["split"] == split and row["source"] == "gt"]
    by_photo: dict[str, list[dict]] = {}
    for row in items:
        by_photo.setdefault(row["photo_id"], []).append(row)
    photos = sorted(by_photo)[:max_photos]
    gallery_index = {item: i for i, item in enumerate(retriever.gallery_ids)}
    ranks, found = [], 0
    for photo_id in progress_bar(photos, progress, desc=f"end to end ({'FCN-CRF' if crf else 'FCN'})"):
        image = read_photo(photo_id)
        garments = {g.category: g for g in retriever.garments(image, crf)}
        queries = [(row, garments[row["category"]]) for row in by_photo[photo_id] if row["category"] in garments]
        ranks += [None] * (len(by_photo[photo_id]) - len(queries))
        if not queries:
            continue
        found += len(queries)
        codes, _ = retriever.encode([garment.view for _, garment in queries])
        full = retriever.search.search(codes, len(retriever.gallery_ids))[1]
        for (row, _), ranking in zip(queries, full):
            ranks.append(int(np.flatnonzero(ranking == gallery_index[row["item_id"]])[0]))
    total = len(ranks)
    result = {f"top{k}": round(100 * sum(r is not None and r < k for r in ranks) / total, 3) for k in ks}
    return {**result, "items": total, "found": found, "coverage": round(100 * found / total, 3),
            "photos": len(photos), "crf": crf}


def evaluate_parsers(hashing: str | None = None, progress: bool = False) -> dict:
    """The shipped parser without and with its CRF (``fcn``, ``fcn_crf``) in front of the hashing
    network ``hashing`` (default: the shipped one), over the whole test split: what
    ``python -m clothlib.endtoend`` writes to ``checkpoints/end_to_end.test.json``."""
    retriever = ClothingRetriever.from_checkpoints(hashing=hashing, progress=progress)
    return {"hashing": retriever.hasher_config.model, "bits": retriever.hasher_config.bits,
            "gallery": len(retriever.gallery_ids),
            "fcn": evaluate_end_to_end(retriever, crf=False, progress=progress),
            "fcn_crf": evaluate_end_to_end(retriever, crf=True, progress=progress)}
