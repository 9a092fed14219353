"""Predicted class maps for a split, optionally refined by the tuned CRF.

:func:`predict_split` yields them and writes nothing; ``python -m clothlib.parsing predict`` saves
one PNG of class indices per photo and ``classes.json`` (the input of the consumer-to-shop build
for the tag-only photos).
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ..config import progress_bar
from ..data.ccp import read_photo, tagged_ids
from ..data.splits import load_split
from .checkpoints import load_checkpoint
from .crf import refine_split
from .crf_search import tuned_crf_params
from .inference import predict_scores


def predict_split(checkpoint: str | os.PathLike, split: str, max_photos: int | None = None, crf: bool = False,
                  progress: bool = True) -> Iterator[tuple[str, np.ndarray]]:
    """An iterator of ``(photo id, labels)`` (H x W uint8 class indices at the annotation's size) for every
    photo of ``split`` ("train", "val", "test", or "tagged" for the 1,094 photos with image-level
    tags only). With ``crf``, labels come from the dense CRF at the setting tuned on the validation
    split (``<stem>.crf.json``)."""
    model, config, _ = load_checkpoint(checkpoint)  # a missing file fails here, before any photo is read
    params = tuned_crf_params(checkpoint) if crf else None
    ids = tagged_ids()[:max_photos] if split == "tagged" else load_split(split, max_photos=max_photos)

    def load(photo_id):
        photo = read_photo(photo_id)
        return photo, predict_scores(model, photo, config.eval_height).numpy()

    if params is not None:
        return refine_split(ids, load, params, progress=progress)
    return ((photo_id, load(photo_id)[1].argmax(0).astype(np.uint8))
            for photo_id in progress_bar(ids, desc=f"predict {split}", enabled=progress))
