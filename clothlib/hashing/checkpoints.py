"""A released hashing checkpoint back as a network: weights, config and the rest of the file.

The file carries the trunk, hash layer and heads (fp16), the full ``HashingConfig``, the task value
lists, the consumer-to-shop build it was trained on and its history; the frozen backbone is not
inside (its weights come from a pinned package or from ``effnet_fcn.pt``).
"""
from __future__ import annotations

import os

from ..harness import load_run
from .config import TRAIN_SCRIPT, HashingConfig
from .models import HashingNet, build_model


def load_checkpoint(path: str | os.PathLike) -> tuple[HashingNet, HashingConfig, dict]:
    """Model (eval mode), its config and the whole checkpoint dict (plus its ``path``); a missing
    file is a :class:`~clothlib.harness.MissingCheckpointError` naming the script that makes it."""
    return load_run(path, "hashing", HashingConfig, _build, TRAIN_SCRIPT)


def _build(config: HashingConfig, checkpoint: dict) -> HashingNet:
    return build_model(config, checkpoint["in_features"])
