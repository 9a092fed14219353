"""Multi-task hashing networks (paper §2.3-2.4): garment view -> k-bit code."""
from .losses import dsh_loss, multitask_loss, pair_labels
from .models import BITS, VARIANTS, HashingNet
from .train import (SHIPPED_RUNS, HashingConfig, cache_checkpoint, checkpoint_name, encode, evaluate_checkpoint, forward_views, load_checkpoint,
                    load_or_train, load_split_data, train)

__all__ = ["BITS", "SHIPPED_RUNS", "VARIANTS", "HashingConfig", "HashingNet", "cache_checkpoint", "checkpoint_name", "dsh_loss", "encode",
           "evaluate_checkpoint", "forward_views", "load_checkpoint", "load_or_train", "load_split_data",
           "multitask_loss", "pair_labels", "train"]
