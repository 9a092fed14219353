"""A network's codes of a split, as retrieval scores them: consumer views are the queries, shop views
the gallery. :func:`encode` computes and returns the export (the shape
:func:`clothlib.retrieval.load_export` reads back); ``python -m clothlib.hashing encode`` writes it."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..foundation import __version__
from .checkpoints import load_checkpoint
from .evaluation import forward_views
from .splitdata import load_split_data


def encode(path: str | os.PathLike, split: str = "test", progress: bool = True,
           folder: str | os.PathLike | None = None) -> dict:
    """Packed codes (np.packbits, big-endian bit order, one row per item), float features and item
    ids of the queries and the gallery, the queries' relaxed codes (``query_relaxed``: the hash
    layer's outputs before the sign, float32, what asymmetric re-ranking compares with the gallery's
    codes; ``HashingNet.forward``'s ``relaxed``), and ``meta`` (checkpoint, bits, split, the set's
    folder). ``folder``: another consumer-to-shop set than the one the network was trained on."""
    model, config, _ = load_checkpoint(path)
    folder = Path(folder or config.folder)
    data = load_split_data(config, split, progress=progress, folder=folder)
    views = forward_views(model, data)
    export = {"meta": {"checkpoint": Path(path).name, "model": config.model, "bits": config.bits,
                       "backbone": config.backbone, "split": split, "c2s": str(folder.resolve()), "items": len(data),
                       "query": "consumer views", "gallery": "shop views", "clothlib": __version__}}
    for side, view in (("query", "consumer"), ("gallery", "shop")):
        export[f"{side}_codes"] = model.codes(getattr(data, view)[:, 0])
        export[f"{side}_features"] = views[view]["features"].numpy().astype(np.float32)
        export[f"{side}_items"] = list(data.item_ids)
    export["query_relaxed"] = views["consumer"]["relaxed"].numpy().astype(np.float32)
    return export
