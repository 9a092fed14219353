"""Comparisons on the validation split: the same network trained with each quantiser of
:mod:`~clothlib.hashing.quantisers` (``compare_quantisers``), and the ablation of what each change to
the paper's network bought (``ablation``, :data:`ABLATION`).

Validation decides; the test split is never looked at here. Each row gives the Hamming top-1 / top-20
of the codes (ties in gallery order, as every table of the course), the same network's float
features' top-1 / top-20 (cosine), the share of the float top-20 the codes keep, and category
accuracy, so what a quantiser buys in bits can be told from what it costs the features. A row is
read from the shipped checkpoint when that was trained with the very config asked for on the very
consumer-to-shop build; otherwise it is trained into the cache folder (by config digest, resumable).
Returned, not written: ``python -m clothlib.hashing compare-quantisers`` (``ablation``) saves it.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .. import harness
from ..data import c2s
from ..foundation import __version__
from ..retrieval import float_rank, relevance, topk_accuracy
from .checkpoints import load_checkpoint
from .config import HashingConfig, shipped_path
from .evaluation import forward_views, percent, summary_metrics
from .quantisers import QUANTISERS
from .splitdata import SplitData, load_split_data
from .training import train

# What each change bought, in the order they were made: each step keeps the changes before it.
ABLATION = (
    ("the paper's network (tanh quantiser, ImageNet backbone)", {"quantiser": "tanh", "backbone": "imagenet"}),
    ("+ sign in the forward pass, straight-through gradient", {"quantiser": "sign_ste"}),
    ("+ the backbone's last stage tuned for garments", {"backbone": "tuned"}),
)


def comparison_run(config: HashingConfig, progress: bool = True) -> tuple[str, bool]:
    """The checkpoint of ``config`` and whether it is the shipped one: the shipped file if it was trained
    with this very config on this very consumer-to-shop build (a fresh clone's set lacks the shipped runs'
    pseudo-labelled items), else a run in the cache folder, trained now if absent."""
    shipped = shipped_path(config)
    c2s_key = c2s.load_meta(config.folder)["config"]
    if shipped.exists():
        _, shipped_config, checkpoint = load_checkpoint(shipped)
        if shipped_config == config and checkpoint["c2s_config"] == c2s_key:
            return str(shipped), True
    cached = harness.cached_run_path(config.name, config, c2s_key)
    if not cached.exists():
        train(config, cached, progress=progress)
    return str(cached), False


def score_run(config: HashingConfig, data: SplitData, progress: bool = True) -> dict:
    """One row: ``config`` trained (or found) and scored on ``data`` (a split's views on ``config``'s
    backbone): Hamming and float top-1 / top-20, the share of the float top-20 the codes keep, category
    top-1 and top-3, training seconds."""
    path, shipped = comparison_run(config, progress)
    model, _, checkpoint = load_checkpoint(path)
    out = forward_views(model, data)
    codes = summary_metrics(out, data)
    floats = topk_accuracy(float_rank(out["consumer"]["features"].numpy(), out["shop"]["features"].numpy()),
                           relevance(data.item_ids, data.item_ids))
    row = {"checkpoint": Path(path).name, "shipped": shipped,
           "train_seconds": round(sum(epoch["seconds"] for epoch in checkpoint["history"]), 3),
           "hamming_top1": codes["top1"], "hamming_top20": codes["top20"],
           "float_top1": percent(floats["top1"]), "float_top20": percent(floats["top20"]),
           "category_acc": codes.get("category_acc"), "category_top3_acc": codes.get("category_top3_acc")}
    row["kept_of_float_top20"] = percent(row["hamming_top20"] / row["float_top20"])
    return row


def _trained_on(config: HashingConfig, split: str, items: int, rows) -> dict:
    """What every comparison records beside its rows: the split, its items and the set trained on."""
    meta = c2s.load_meta(config.folder)
    return {"split": split, "items": items, "train_items": meta["counts"]["by_split"]["train"],
            "pseudo_photos": meta["config"]["pseudo_photos"],
            "rows": rows, "clothlib": __version__}


def compare_quantisers(config: HashingConfig, quantisers=tuple(QUANTISERS), split: str = "val",
                       progress: bool = True) -> dict:
    """One row per quantiser: ``config`` with that quantiser, trained (or found) and scored on ``split``."""
    data = load_split_data(config, split, config.max_items, progress=progress)  # the same views for every row
    rows = {name: {"description": QUANTISERS[name],
                   **score_run(dataclasses.replace(config, quantiser=name), data, progress)} for name in quantisers}
    return {"config": {k: v for k, v in config.to_dict().items() if k != "quantiser"},
            **_trained_on(config, split, len(data), rows)}


def ablation(config: HashingConfig, steps=ABLATION, split: str = "val", progress: bool = True) -> dict:
    """One row per step of ``steps`` (``(what changed, {field: value})``, each step keeping the changes
    before it): what each change bought, scored on ``split``."""
    rows, changes, views = [], {}, {}
    for step, change in steps:
        changes = {**changes, **change}
        run = dataclasses.replace(config, **changes)
        if run.backbone not in views:  # a split's views are loaded once per backbone
            views[run.backbone] = load_split_data(run, split, run.max_items, progress=progress)
        rows.append({"step": step, "changes": dict(changes), **score_run(run, views[run.backbone], progress)})
    return {"config": {k: v for k, v in config.to_dict().items() if k not in {k for _, c in steps for k in c}},
            **_trained_on(config, split, len(views[run.backbone]), rows)}
