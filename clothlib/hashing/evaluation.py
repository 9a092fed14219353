"""How good a hashing network is: task accuracies, pair accuracy, Hamming top-k and what each test
item was given, computed and returned. Nothing here writes a file: ``python -m clothlib.hashing
evaluate`` saves what :func:`evaluate_checkpoint` returns (as torchvision's references let
``main()`` save what their evaluation returns).

Beside the summary numbers a result keeps a record per item (its two codes and its predicted
value per task). A subset of the items (the course's consumer-to-shop set in fast mode) can then
be checked against a shipped results file item by item, with the same code in both modes.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import torch

from .. import __version__
from ..data import c2s
from ..retrieval import codes_to_hex, pack_codes, score_codes
from .checkpoints import load_checkpoint
from .losses import IGNORED, SIMILAR, pair_labels
from .models import HashingNet, task_values
from .splitdata import ALL_TASKS, SplitData, load_split_data

CODE_COLUMNS = {"consumer": "query_code", "shop": "gallery_code"}  # per-item records: which view, which code


@torch.no_grad()
def forward_views(model: HashingNet, data: SplitData) -> dict:
    """Codes, float features and logits of every item's consumer and shop view (unmirrored)."""
    model.eval()
    return {"consumer": model(data.consumer[:, 0]), "shop": model(data.shop[:, 0])}


def pair_accuracy(query_codes: torch.Tensor, gallery_codes: torch.Tensor, data: SplitData) -> float:
    """Balanced accuracy (%) of "similar iff fewer than bits/4 bits differ" over all (consumer, shop)
    pairs of the split that the pair rule labels (the midpoint between 0 bits for a similar pair
    and the bits/2 the margin asks of a dissimilar one)."""
    bits = query_codes.shape[1]
    hamming = (bits - query_codes.sign() @ gallery_codes.sign().T) / 2
    labels = pair_labels(data.pair_ids, data.categories)
    said_similar = hamming < bits / 4
    similar, dissimilar = labels == SIMILAR, labels != SIMILAR
    dissimilar &= labels != IGNORED
    return percent((said_similar[similar].float().mean() + (~said_similar[dissimilar]).float().mean()) / 2)


def percent(share) -> float:
    """Accuracies are reported in percent, like the paper's tables and the retrieval scores."""
    return round(100 * float(share), 3)


def summary_metrics(out: dict, data: SplitData) -> dict:
    """From :func:`forward_views`' output: pair accuracy, Hamming top-k on the instance protocol
    (consumer -> shop) and, for each task of the model, accuracy on the consumer views (the
    street-photo side)."""
    query, gallery = out["consumer"]["codes"], out["shop"]["codes"]
    metrics = {"pair_acc": pair_accuracy(query, gallery, data)}
    query_packed, gallery_packed = pack_codes(query.numpy() >= 0), pack_codes(gallery.numpy() >= 0)
    retrieval = score_codes(query_packed, gallery_packed, data.item_ids, data.item_ids)
    metrics.update({k: retrieval[k] for k in ("top1", "top20")})
    for task, scores in out["consumer"]["logits"].items():
        target = data.targets[task]
        valid = target >= 0
        right = scores.argmax(1)[valid] == target[valid]
        metrics[f"{task}_acc"] = percent(right.float().mean()) if valid.any() else None
    return metrics


def evaluate_views(model: HashingNet, data: SplitData) -> dict:
    """:func:`summary_metrics` of ``model`` on ``data`` (the validation numbers of every epoch)."""
    return summary_metrics(forward_views(model, data), data)


def item_records(out: dict, data: SplitData) -> dict[str, list[str]]:
    """Per item, column by column: its id, its consumer view's code (``query_code``) and shop
    view's code (``gallery_code``) as hex of the packed bits, and the value each task head predicts
    for its consumer view."""
    records = {"item_id": list(data.item_ids)}
    for view, column in CODE_COLUMNS.items():
        records[column] = codes_to_hex(pack_codes(out[view]["codes"].numpy() >= 0))
    for task, scores in out["consumer"]["logits"].items():
        values = task_values(task)
        records[task] = [values[i] for i in scores.argmax(1).tolist()]
    return records


def majority_baseline(train_rows: list[dict], test: SplitData) -> dict[str, float]:
    """Accuracy of always answering the training split's most frequent value, per task."""
    result = {}
    for task in ALL_TASKS:
        counts = Counter(row[task] for row in train_rows if row[task] != c2s.NA)
        target = test.targets[task]
        valid = target >= 0
        if not counts or not valid.any():
            result[task] = None
            continue
        majority = task_values(task).index(counts.most_common(1)[0][0])
        result[task] = percent((target[valid] == majority).float().mean())
    return result


def evaluate_checkpoint(path: str | os.PathLike, split: str = "test", progress: bool = True,
                        folder: str | os.PathLike | None = None) -> dict:
    """Metrics of a checkpoint on ``split`` of ``folder`` (default: the set it was trained on), the
    majority baseline of every task, and the per-item records (``per_item``). Returned, not written."""
    model, config, _ = load_checkpoint(path)
    folder = Path(folder or config.folder)
    data = load_split_data(config, split, progress=progress, folder=folder)
    out = forward_views(model, data)
    train_rows = [row for row in c2s.load_manifest(folder) if row["split"] == "train"]
    return {"checkpoint": Path(path).name, "model": config.model, "bits": config.bits, "backbone": config.backbone,
            "split": split, "items": len(data), **summary_metrics(out, data),
            "majority": majority_baseline(train_rows, data), "clothlib": __version__,
            "per_item": item_records(out, data)}


def agreement(result: dict, shipped: dict) -> dict:
    """For the items two results share (e.g. this run on a subset, and a shipped results file): the
    share (%) of them on which each per-item column (codes, predicted values) agrees, and how many
    items were compared. Tells whether a shipped file reproduces, whatever the subset."""
    ours, theirs = result["per_item"], shipped["per_item"]
    row_of = {item: row for row, item in enumerate(theirs["item_id"])}
    common = [(row, row_of[item]) for row, item in enumerate(ours["item_id"]) if item in row_of]
    if not common:
        raise ValueError("the two results share no item: were they computed on the same consumer-to-shop set?")
    shares = {column: percent(sum(ours[column][a] == theirs[column][b] for a, b in common) / len(common))
              for column in ours if column != "item_id" and column in theirs}
    return {"items": len(common), **shares}
