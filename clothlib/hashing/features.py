"""Backbone features of the consumer-to-shop views, computed once and cached on disk.

The paper fine-tunes a whole CNN for every hashing network. On a laptop CPU that is hours per run,
so the course freezes the convolutional backbone (EfficientNet-Lite0, the encoder of the parsing
network ``effnet_fcn``) and trains only what the paper adds on top of it: the trunk's last layers,
the hash layer and the task heads. Each view then costs one backbone pass in total, not one per
epoch, and a hashing network trains in two to four minutes. The backbone's weights are either
ImageNet's (``imagenet``) or the parsing checkpoint's (``parsing``: the paper initialises its
hashing network from its FCN).

A view's feature is the global average of the backbone's feature maps at strides 8, 16 and 32
(40 + 112 + 320 = 472 numbers): the deepest map says what the garment is, the shallower ones keep
colour and texture, which attributes and instance matching need. Training views are also encoded
mirrored (``FLIP_VARIANTS``): the only augmentation a frozen backbone allows.

A third backbone, ``tuned``, is ImageNet's with its stride-32 stage tuned for garments
(:mod:`~clothlib.hashing.backbone_tuning`, ``checkpoints/backbone_tuned.pt``): the same function
otherwise, so everything downstream of a feature works unchanged.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from .. import devices
from ..config import progress_bar, settings
from ..data.c2s import load_manifest, load_meta
from ..data.images import normalise, read_view
from ..engine import load_release
from ..harness import MissingCheckpointError
from ..io import atomic_write
from ..parsing import load_checkpoint
from ..parsing.config import DEFAULT_PARSER_FILE  # the parsing network whose encoder ``parsing`` reuses
from ..parsing.models import EfficientNetFCN

BACKBONES = ("imagenet", "parsing", "tuned")
TUNED_CHECKPOINT = "backbone_tuned.pt"  # ImageNet's backbone with its last stage tuned for garments
TUNE_COMMAND = "python -m clothlib.hashing tune-backbone --out checkpoints/backbone_tuned.pt"
POOLED_TAPS = (1, 2, 3)  # of EfficientNetFCN's taps (strides 4, 8, 16, 32): strides 8, 16 and 32
POOLED_BLOCKS = tuple(EfficientNetFCN.TAP_BLOCKS[i] for i in POOLED_TAPS)  # the blocks whose output is pooled
FEATURE_BATCH = 64
VIEWS = ("consumer", "shop")
FLIP_VARIANTS = {"train": 2}  # views per item in each split: original (+ mirrored); 1 elsewhere
FEATURES_VERSION = 1  # bump when the same inputs would give other numbers


def feature_dim() -> int:
    """Length of a view's backbone feature (472)."""
    return sum(EfficientNetFCN.TAP_CHANNELS[i] for i in POOLED_TAPS)


def forward_blocks(blocks, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``x`` through ``(index, block)`` pairs in order: the last output, and the global average of
    each output of a :data:`POOLED_BLOCKS` block. The one forward pass of the backbone's blocks, used
    whole (:class:`Backbone`) and in two parts (frozen, then tuned: ``backbone_tuning``)."""
    pooled = []
    for index, block in blocks:
        x = block(x)
        if index in POOLED_BLOCKS:
            pooled.append(x.mean((2, 3)))
    return x, pooled


def tuned_network() -> EfficientNetFCN:
    """ImageNet's EfficientNet-Lite0 with the blocks a tuning released (``checkpoints/backbone_tuned.pt``)
    put in their place; a missing file is a :class:`~clothlib.harness.MissingCheckpointError` naming
    the command that makes it."""
    path = settings.checkpoint_dir / TUNED_CHECKPOINT
    try:
        checkpoint = load_release(path, "backbone", TUNE_COMMAND)
    except FileNotFoundError as err:
        raise MissingCheckpointError(str(err)) from None
    network = EfficientNetFCN(num_classes=1, pretrained=True)
    blocks = {k: v for k, v in checkpoint["weights"].items() if k.startswith("blocks.")}
    missing, unexpected = network.load_state_dict(blocks, strict=False)
    tuned = {int(k.split(".")[1]) for k in blocks}
    if unexpected or not tuned or any(int(k.split(".")[1]) in tuned for k in missing if k.startswith("blocks.")):
        raise ValueError(f"{path}: its blocks do not fit EfficientNet-Lite0; re-make it with `{TUNE_COMMAND}`")
    return network


class Backbone(torch.nn.Module):
    """EfficientNet-Lite0 blocks (frozen) -> pooled multi-scale feature vector per image."""

    def __init__(self, name: str = "imagenet"):
        super().__init__()
        if name == "imagenet":
            network = EfficientNetFCN(num_classes=1, pretrained=True)
        elif name == "parsing":
            network, _, _ = load_checkpoint(settings.checkpoint_dir / DEFAULT_PARSER_FILE)
        elif name == "tuned":
            network = tuned_network()
        else:
            raise ValueError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
        self.name = name
        self.network = network.eval().requires_grad_(False).to(devices.current())

    dim = property(lambda self: feature_dim())

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images``: N x H x W x 3 uint8 -> N x dim float32 (on the backbone's device: send the uint8
        images there, a quarter of the bytes of the normalised floats)."""
        _, pooled = forward_blocks(enumerate(self.network.blocks), self.network.stem(normalise(images)))
        return torch.cat(pooled, 1)


def encode_views(backbone: Backbone, paths: list[Path], flips: int = 1, progress: bool = True,
                 desc: str = "features") -> np.ndarray:
    """Backbone features of each image: ``len(paths) x flips x dim`` (variant 1 is mirrored)."""
    out = np.zeros((len(paths), flips, backbone.dim), dtype=np.float32)
    for start in progress_bar(range(0, len(paths), FEATURE_BATCH), desc=desc, leave=False, enabled=progress):
        batch = torch.from_numpy(np.stack([read_view(p) for p in paths[start:start + FEATURE_BATCH]]))
        batch = batch.to(devices.of(backbone))
        for variant in range(flips):
            images = batch.flip(2) if variant else batch
            out[start:start + len(batch), variant] = backbone(images).cpu().numpy()
    return out


def backbone_weights_id(backbone: str) -> str:
    """``imagenet`` (fixed weights from a pinned package), or ``parsing:<sha256 of effnet_fcn.pt>``
    (``tuned:<sha256 of backbone_tuned.pt>``), so features of a retrained network are never mistaken
    for the old one's."""
    files = {"parsing": (DEFAULT_PARSER_FILE, "bash checkpoints/train_parsing.sh"),
             "tuned": (TUNED_CHECKPOINT, TUNE_COMMAND)}
    if backbone not in files:
        return backbone
    name, command = files[backbone]
    path = settings.checkpoint_dir / name
    if not path.exists():
        raise MissingCheckpointError(f"{path} not found: the {backbone!r} backbone needs it. Make it with `{command}`.")
    return f"{backbone}:" + hashlib.sha256(path.read_bytes()).hexdigest()


def cache_path(folder: Path, backbone: str, split: str) -> Path:
    """One file per (set build, backbone weights, split): a rebuilt set or other weights never reuse it."""
    config = load_meta(folder)["config"]
    key = json.dumps([str(folder.resolve()), config, backbone_weights_id(backbone), FEATURES_VERSION,
                      *devices.cache_tag(devices.current())], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return settings.cache_dir / "features" / f"{folder.name}_{split}_{backbone}_{digest}.npz"


def read_cached(path: Path, item_ids: list[str]) -> dict | None:
    """The arrays of the cache file ``path`` for ``item_ids`` (its first ``len(item_ids)`` rows, whose
    ``item_ids`` array must start with them); None, so the caller computes and overwrites it, for a
    file that is absent, unreadable, truncated (numpy's BadZipFile, a bad CRC), uneven or of other
    items (a damaged cache entry was a raw error, never healed)."""
    if not path.exists():
        return None
    try:
        with np.load(path) as cached:
            arrays = {key: cached[key] for key in cached.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    ids = arrays.get("item_ids")
    if ids is None or any(len(array) != len(ids) for array in arrays.values()) \
            or ids[:len(item_ids)].tolist() != list(item_ids) or len(ids) < len(item_ids):
        return None
    return {key: array[:len(item_ids)] for key, array in arrays.items()}


def split_features(folder: str | os.PathLike, split: str, backbone: str = "imagenet", progress: bool = True,
                   max_items: int | None = None) -> dict:
    """``{"item_ids", "consumer", "shop"}`` for the items of ``split`` (features: items x variants
    x dim float32), computed on first use and then read from the cache folder. ``max_items``: the
    first N items only (a demo run), sliced from the whole split's file where that exists, else
    computed into a file of their own. A damaged or foreign cache file is computed again."""
    folder = Path(folder)
    rows = [row for row in load_manifest(folder) if row["split"] == split][:max_items]
    if not rows:
        raise ValueError(f"{folder} has no {split!r} items")
    ids = [row["item_id"] for row in rows]
    whole = cache_path(folder, backbone, split)
    path = whole if max_items is None else whole.with_name(f"{whole.stem}_first{max_items}.npz")
    cached = read_cached(whole, ids)
    if cached is None and path != whole:
        cached = read_cached(path, ids)
    if cached is not None:
        return cached
    model = Backbone(backbone)
    flips = FLIP_VARIANTS.get(split, 1)
    result = {"item_ids": np.array([row["item_id"] for row in rows])}
    for view in VIEWS:
        result[view] = encode_views(model, [folder / row[view] for row in rows], flips, progress,
                                    desc=f"{backbone} features: {split} {view}")
    with atomic_write(path, "wb") as f:
        np.savez(f, **result)
    return result
