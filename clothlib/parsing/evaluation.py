"""Evaluating a checkpoint file: its metrics on a split, and its inference height.

Both functions return their results and write nothing; ``python -m clothlib.parsing evaluate``
saves the metrics as ``<stem>.<split>.metrics.json`` (per photo too, see
:class:`~clothlib.parsing.inference.SplitScore`), and ``tune-height`` saves the heights' table as
``<stem>.eval_height.json`` and re-releases the checkpoint with the chosen height.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..data.classes import CLASSES
from ..data.splits import load_split
from ..foundation import __version__
from ..timing import latency
from .checkpoints import load_checkpoint
from .config import EVAL_HEIGHTS
from .inference import SUMMARY_METRICS, TEST_TIME_AUGMENTATIONS, evaluate, score_photos


def evaluate_checkpoint(path: str | os.PathLike, split: str = "test", max_photos: int | None = None,
                        progress: bool = True) -> dict:
    """Metrics of a checkpoint on a split (the first ``max_photos`` of it), per photo too; writes nothing
    (``python -m clothlib.parsing evaluate`` saves the whole split's as ``<stem>.<split>.metrics.json``)."""
    model, config, _ = load_checkpoint(path)
    ids = load_split(split, max_photos=max_photos)
    summary = score_photos(model, ids, config.eval_height, progress).summary()
    per_photo = summary.pop("per_photo")  # last, so the file opens with its summary
    return {**summary, "checkpoint": Path(path).name, "split": split, "photos": len(ids),
            "eval_height": config.eval_height, "clothlib": __version__, "per_photo": per_photo}


def compare_augmentations(path: str | os.PathLike, split: str = "val", max_photos: int | None = None,
                          augmentations=tuple(TEST_TIME_AUGMENTATIONS), progress: bool = True) -> dict:
    """Each test-time augmentation's metrics on ``split`` and its inference time per photo (p50 / p95 /
    max seconds, wall clock, this machine's threads); writes nothing (``python -m clothlib.parsing
    tta`` saves it as ``<stem>.<split>.tta.json``). Validation decides; the test split only reports."""
    model, config, _ = load_checkpoint(path)
    ids = load_split(split, max_photos=max_photos)
    rows = {}
    for name in augmentations:
        seconds: list[float] = []
        summary = score_photos(model, ids, config.eval_height, progress, name, seconds).summary()
        rows[name] = {**TEST_TIME_AUGMENTATIONS[name], **{key: summary[key] for key in SUMMARY_METRICS},
                      **latency(seconds, "wall_s")}
    return {"checkpoint": Path(path).name, "split": split, "photos": len(ids), "eval_height": config.eval_height,
            "threads": torch.get_num_threads(), "rows": rows, "clothlib": __version__}


def tune_eval_height(path: str | os.PathLike, heights: tuple[int, ...] = EVAL_HEIGHTS, split: str = "val",
                     progress: bool = True) -> dict:
    """Every height's metrics on ``split`` and the best height by mean IU (``best``); writes nothing
    (``python -m clothlib.parsing tune-height`` saves them and re-releases the checkpoint with it).

    Networks trained on rescaled crops often see small garments (belts, legwear) better at a larger
    scale than the one they were trained at; only the validation split says by how much."""
    model, config, _ = load_checkpoint(path)
    ids = load_split(split)
    rows = []
    for height in heights:
        summary = evaluate(model, ids, height, progress).summary(CLASSES)
        rows.append({"eval_height": height, **{key: summary[key] for key in SUMMARY_METRICS}})
    best = max(rows, key=lambda row: row["mean_iu"])
    return {"checkpoint": Path(path).name, "split": split, "photos": len(ids), "heights": rows,
            "previous": config.eval_height, "best": best["eval_height"], "clothlib": __version__}
