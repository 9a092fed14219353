"""Prediction export: one PNG of class indices per photo, optionally refined by the tuned CRF."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import progress_bar
from ..data.ccp import read_photo, tagged_ids
from ..data.classes import export_classes
from ..data.splits import load_split
from ..io import atomic_write
from .crf import refine_split
from .crf_search import tuned_crf_params
from .train import load_checkpoint, predict_scores


def predict_split(checkpoint: str | os.PathLike, split: str, out: str | os.PathLike, max_photos: int | None = None,
                  crf: bool = False, progress: bool = True) -> Path:
    """Write ``out/<photo id>.png`` (uint8 class per pixel, annotation size) for every photo of
    ``split`` ("train", "val", "test", or "tagged" for the 1,094 photos with image-level tags only)
    and ``out/classes.json`` (the export-classes format). With ``crf``, labels come from the dense
    CRF at the setting tuned on the validation split (``<stem>.crf.json``)."""
    model, config, _ = load_checkpoint(checkpoint)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = tagged_ids()[:max_photos] if split == "tagged" else load_split(split, max_photos=max_photos)

    def load(photo_id):
        photo = read_photo(photo_id)
        return photo, predict_scores(model, photo, config.eval_height).numpy()

    if crf:
        labelled = refine_split(ids, load, tuned_crf_params(checkpoint), progress=progress)
    else:
        labelled = ((i, load(i)[1].argmax(0).astype(np.uint8)) for i in progress_bar(ids, desc=f"predict {split}", enabled=progress))
    for photo_id, labels in labelled:
        with atomic_write(out / f"{photo_id}.png", "wb") as f:
            Image.fromarray(labels).save(f, format="PNG")
    export_classes(out / "classes.json")
    return out
