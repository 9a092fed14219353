"""One split of the consumer-to-shop set as the hashing networks see it: cached backbone features of
both views, the pair IDs and categories the pair rule needs, and a target index per task."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import c2s, pairs
from .config import HashingConfig
from .features import split_features
from .losses import IGNORED
from .models import CATEGORY_TASK, VARIANTS, task_values, variant_tasks

ALL_TASKS = [CATEGORY_TASK, *[t for t in variant_tasks(VARIANTS["catt3_net"]) if t != CATEGORY_TASK]]


@dataclass
class SplitData:
    """One split of the consumer-to-shop set as tensors: features (items x variants x dim) of both
    views, the pair IDs and categories, and a target per task (-1 where "n/a")."""

    item_ids: list[str]
    consumer: torch.Tensor
    shop: torch.Tensor
    pair_ids: np.ndarray
    categories: np.ndarray
    targets: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.item_ids)


def task_targets(rows: list[dict]) -> dict[str, torch.Tensor]:
    """Index of each row's value in :func:`~clothlib.hashing.models.task_values`, -1 for "n/a"."""
    targets = {}
    for task in ALL_TASKS:
        index = {value: i for i, value in enumerate(task_values(task))}
        targets[task] = torch.tensor([index.get(row[task], IGNORED) for row in rows])
    return targets


def load_split_data(config: HashingConfig, split: str, max_items: int | None = None, progress: bool = True,
                    folder: str | os.PathLike | None = None) -> SplitData:
    """Features (cached) and labels of ``split`` of ``folder`` (default: the config's set);
    ``max_items`` keeps the first N items."""
    folder = Path(folder or config.folder)
    features = split_features(folder, split, config.backbone, progress, max_items=max_items)
    by_id = {row["item_id"]: row for row in c2s.load_manifest(folder)}
    ids = [str(i) for i in features["item_ids"]]
    rows = [by_id[i] for i in ids]
    key = pairs.PROTOCOLS[config.protocol]
    return SplitData(ids, torch.from_numpy(features["consumer"]), torch.from_numpy(features["shop"]),
                     np.array([row[key] for row in rows]), np.array([row["category"] for row in rows]),
                     task_targets(rows))
