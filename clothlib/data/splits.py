"""Seeded photo splits, committed as text files so every stage and every student uses the same ones.

Paper §3.1: a random 8:2 train/test split of the 1,004 annotated photos. A validation subset is
carved from train for tuning (learning rates, CRF kernels), so the test split is touched only for
the final numbers.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..config import settings
from ..io import atomic_write

SPLITS = ("train", "val", "test")
SPLIT_SEED = 0
TEST_FRACTION = 0.2
VAL_FRACTION_OF_TRAIN = 0.125  # 100 of the 803 train photos


def make_splits(photo_ids: list[str], seed: int = SPLIT_SEED, test_fraction: float = TEST_FRACTION,
                val_fraction: float = VAL_FRACTION_OF_TRAIN) -> dict[str, list[str]]:
    """Shuffle once with ``seed``; take the test share, then the validation share of the rest."""
    ids = sorted(photo_ids)
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test = round(len(ids) * test_fraction)
    n_val = round((len(ids) - n_test) * val_fraction)
    shuffled = [ids[i] for i in order]
    return {
        "test": sorted(shuffled[:n_test]),
        "val": sorted(shuffled[n_test:n_test + n_val]),
        "train": sorted(shuffled[n_test + n_val:]),
    }


def split_path(name: str, folder: str | os.PathLike | None = None) -> Path:
    return Path(folder or settings.splits_dir) / f"ccp_{name}.txt"


def write_splits(splits: dict[str, list[str]], folder: str | os.PathLike | None = None) -> list[Path]:
    paths = []
    for name in SPLITS:
        with atomic_write(split_path(name, folder)) as f:
            f.write("\n".join(splits[name]) + "\n")
        paths.append(split_path(name, folder))
    return paths


def load_split(name: str, folder: str | os.PathLike | None = None, max_photos: int | None = None) -> list[str]:
    """Photo ids of a committed split ("train", "val" or "test"), the first ``max_photos`` if given."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; choose one of {SPLITS}")
    path = split_path(name, folder)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; regenerate it with `python -m clothlib.data make-splits`.")
    ids = path.read_text().split()
    return ids[:max_photos] if max_photos else ids
