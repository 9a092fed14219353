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

import numpy as np
import torch

from .. import devices
from ..data import c2s
from ..data.attributes import NA
from ..foundation import __version__
from ..retrieval import binarize, codes_to_hex, hamming_distances, pack_codes, score_codes
from .checkpoints import load_checkpoint
from .losses import IGNORED, SIMILAR, pair_labels
from .models import CATEGORY_TASK, HashingNet, task_values
from .splitdata import ALL_TASKS, SplitData, load_split_data

CODE_COLUMNS = {"consumer": "query_code", "shop": "gallery_code"}  # per-item records: which view, which code


@torch.no_grad()
def forward_views(model: HashingNet, data: SplitData) -> dict:
    """Codes, float features and logits of every item's consumer and shop view (unmirrored), computed
    on the model's device and returned on the CPU."""
    model.eval()
    device = devices.of(model)
    return {view: devices.to_cpu(model(getattr(data, view)[:, 0].to(device))) for view in ("consumer", "shop")}


def pair_accuracy(query_packed: np.ndarray, gallery_packed: np.ndarray, bits: int, data: SplitData) -> float:
    """Balanced accuracy (%) of "similar iff fewer than bits/4 bits differ" over all (consumer, shop)
    pairs of the split that the pair rule labels (the midpoint between 0 bits for a similar pair
    and the bits/2 the margin asks of a dissimilar one)."""
    hamming = torch.from_numpy(hamming_distances(query_packed, gallery_packed))
    labels = pair_labels(data.pair_ids, data.categories)
    said_similar = hamming < bits / 4
    similar, dissimilar = labels == SIMILAR, labels != SIMILAR
    dissimilar &= labels != IGNORED
    return percent((said_similar[similar].float().mean() + (~said_similar[dissimilar]).float().mean()) / 2)


def percent(share) -> float:
    """Accuracies are reported in percent, like the paper's tables and the retrieval scores."""
    return round(100 * float(share), 3)


TOP3_TASK = "category_top3"  # the category head judged by its three best answers (FashionNet reports top-3)


def topk_share(scores: torch.Tensor, target: torch.Tensor, k: int) -> float | None:
    """Share (%) of the rows with a target (>= 0) whose target is among the ``k`` highest scores."""
    valid = target >= 0
    if not valid.any():
        return None
    best = scores[valid].topk(min(k, scores.shape[1]), dim=1).indices
    return percent((best == target[valid, None]).any(1).float().mean())


def summary_metrics(out: dict, data: SplitData) -> dict:
    """From :func:`forward_views`' output: pair accuracy, Hamming top-k on the instance protocol
    (consumer -> shop) and, for each task of the model, accuracy on the consumer views (the
    street-photo side); for the category head its top-3 accuracy too (``category_top3_acc``)."""
    query, gallery = out["consumer"]["codes"], out["shop"]["codes"]
    query_packed, gallery_packed = pack_codes(binarize(query.numpy())), pack_codes(binarize(gallery.numpy()))
    metrics = {"pair_acc": pair_accuracy(query_packed, gallery_packed, query.shape[1], data)}
    retrieval = score_codes(query_packed, gallery_packed, data.item_ids, data.item_ids)
    metrics.update({k: retrieval[k] for k in ("top1", "top20")})
    for task, scores in out["consumer"]["logits"].items():
        metrics[f"{task}_acc"] = topk_share(scores, data.targets[task], 1)
    logits = out["consumer"]["logits"]
    if CATEGORY_TASK in logits:
        metrics[f"{TOP3_TASK}_acc"] = topk_share(logits[CATEGORY_TASK], data.targets[CATEGORY_TASK], 3)
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
        records[column] = codes_to_hex(pack_codes(binarize(out[view]["codes"].numpy())))
    for task, scores in out["consumer"]["logits"].items():
        values = task_values(task)
        records[task] = [values[i] for i in scores.argmax(1).tolist()]
    return records


def majority_baseline(train_rows: list[dict], test: SplitData) -> dict[str, float]:
    """Accuracy of always answering the training split's most frequent value, per task (and, for
    ``category_top3``, of always answering its three most frequent categories)."""
    result = {}
    for task, k in [(task, 1) for task in ALL_TASKS] + [(TOP3_TASK, 3)]:
        values = CATEGORY_TASK if task == TOP3_TASK else task
        counts = Counter(row[values] for row in train_rows if row[values] != NA)
        target = test.targets[values]
        valid = target >= 0
        if not counts or not valid.any():
            result[task] = None
            continue
        majority = [task_values(values).index(value) for value, _ in counts.most_common(k)]
        result[task] = percent(torch.isin(target[valid], torch.tensor(majority)).float().mean())
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
