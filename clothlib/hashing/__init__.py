"""Multi-task hashing networks (paper §2.3-2.4): garment view -> k-bit code.

One module per concept: ``config`` (HashingConfig, the shipped runs), ``splitdata`` (a split as
tensors), ``quantisers`` (how the hash layer makes bits), ``training`` (train, load_or_train),
``evaluation`` (metrics, returned), ``export`` (codes, returned), ``checkpoints`` (load_checkpoint),
``ablation`` (the quantiser comparison, returned); ``python -m clothlib.hashing`` saves results.
"""
from .checkpoints import load_checkpoint
from .config import SHIPPED_RUNS, TRAIN_SCRIPT, HashingConfig, checkpoint_name, shipped_path
from .evaluation import agreement, evaluate_checkpoint, evaluate_views, forward_views, majority_baseline
from .export import encode
from .losses import dsh_loss, multitask_loss, pair_labels
from .models import BITS, VARIANTS, HashingNet
from .splitdata import SplitData, load_split_data
from .training import load_or_train, train

__all__ = ["BITS", "SHIPPED_RUNS", "TRAIN_SCRIPT", "VARIANTS", "HashingConfig", "HashingNet", "SplitData", "agreement",
           "checkpoint_name", "dsh_loss", "encode", "evaluate_checkpoint", "evaluate_views", "forward_views",
           "load_checkpoint", "load_or_train", "load_split_data", "majority_baseline", "multitask_loss",
           "pair_labels", "shipped_path", "train"]
