"""A backbone tuned for garments, on a CPU: the last stage of EfficientNet-Lite0 trained from cached activations.

The hashing networks train on a frozen backbone (:mod:`~clothlib.hashing.features`): ImageNet's
features know objects, not which of two black jackets is which, and the float features of the
shipped networks plateau there. The paper fine-tunes the whole CNN per network; on two CPU cores
that is hours per run. Here one stage is tuned, once, and every network then trains on its features:

- The frozen part (stem and blocks 0-10, up to stride 16) runs once per view and once per mirrored
  view; its output (112 x 8 x 8 for a 128-pixel view) and the pooled features it already gives
  (strides 8 and 16) are cached (:func:`frozen_activations`). An epoch then costs only the tuned
  stage's passes: blocks 11-15, the stride-32 stage, 2.3 M weights.
- BatchNorm keeps ImageNet's statistics (the tuned blocks stay in eval mode; only weights and BN's
  scale and shift learn): batches of small crops would give noisy statistics, and the features of a
  photo computed later by the whole backbone must be the same function as in training.
- Supervision: only which views show the same garment (the instance IDs of the consumer-to-shop
  pairs), through :func:`~clothlib.hashing.losses.instance_contrastive_loss` on a small projection
  head that is dropped afterwards. No category, no attribute label reaches the backbone. Every
  hashing network sees at least as much (simnet's pair loss is made from the same IDs, and from
  categories besides), so the simnet vs catt comparison stays fair: the tuned stage gives no network
  what only the catt nets should have.

:func:`tune_backbone` trains through the shared run harness (exact resume) and releases the tuned
blocks as ``checkpoints/backbone_tuned.pt``; the ``tuned`` backbone of
:class:`~clothlib.hashing.features.Backbone` loads it. Validation (the val split's consumer views
against its shop views, cosine) is measured before tuning and after each epoch.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import devices, harness
from ..config import progress_bar, settings
from ..data import c2s, pairs
from ..data.images import normalise, read_view
from ..io import atomic_write
from ..parsing.models import EfficientNetFCN
from ..retrieval import float_rank, relevance, topk_accuracy
from .features import FEATURE_BATCH, FLIP_VARIANTS, VIEWS, feature_dim, forward_blocks, read_cached
from .losses import instance_contrastive_loss

ACTIVATIONS_VERSION = 1  # bump when the same inputs would give other numbers


@dataclass(frozen=True)
class TuningConfig(harness.RunConfig):
    """Everything that defines a tuning of the backbone's last stage."""

    first_block: int = 11        # blocks from here on are tuned (11: the stride-32 stage, blocks 11-15)
    epochs: int = 5
    batch_size: int = 128        # items per step: 128 consumer views against 128 shop views
    lr: float = 3e-4             # AdamW, poly decay
    weight_decay: float = 1e-4
    temperature: float = 0.1
    embedding: int = 256         # the projection head's output (dropped after tuning)
    protocol: str = "instance"   # which ID makes two views positives (clothlib.data.pairs.PROTOCOLS)
    seed: int = 0
    c2s: str | None = None       # consumer-to-shop folder; None: data/c2s
    max_items: int | None = None  # the first N items of each split only: a small demo run

    def __post_init__(self):
        blocks = EfficientNetFCN.TAP_BLOCKS[-1] + 1
        if not 1 <= self.first_block < blocks:
            raise ValueError(f"first_block must be in 1..{blocks - 1}, not {self.first_block}")
        if self.protocol not in pairs.PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose one of {tuple(pairs.PROTOCOLS)}")

    @property
    def folder(self) -> Path:
        return Path(self.c2s) if self.c2s else c2s.default_folder()


class TunedStage(nn.Module):
    """The tuned blocks (ImageNet's to start with) and the projection head: frozen part's output and
    pooled features -> the backbone's feature (:func:`features`) -> a unit embedding (``forward``).
    State-dict keys ``blocks.<index>.*`` are EfficientNet-Lite0's own, so a release loads into it."""

    def __init__(self, first_block: int, embedding: int):
        super().__init__()
        network = EfficientNetFCN(num_classes=1, pretrained=True)
        self.blocks = nn.ModuleDict({str(i): network.blocks[i] for i in range(first_block, len(network.blocks))})
        self.head = nn.Linear(feature_dim(), embedding)

    def train(self, mode: bool = True):
        """BatchNorm keeps ImageNet's statistics: the blocks stay in eval mode; the head follows ``mode``."""
        super().train(mode)
        self.blocks.eval()
        return self

    def features(self, maps: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        """The backbone's pooled feature of each view, as :class:`~clothlib.hashing.features.Backbone`
        gives it: ``fixed`` (pooled before ``first_block``) then the tuned blocks' pooled outputs."""
        _, pooled = forward_blocks(((int(i), block) for i, block in self.blocks.items()), maps.float())
        return torch.cat([fixed, *pooled], 1)

    def forward(self, maps: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(maps, fixed))


@torch.no_grad()
def frozen_part(network: EfficientNetFCN, images: torch.Tensor, first_block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``images`` (N x H x W x 3 uint8) through the stem and blocks before ``first_block``: their
    output and the pooled features of the taps among them."""
    blocks = [(i, block) for i, block in enumerate(network.blocks) if i < first_block]
    maps, pooled = forward_blocks(blocks, network.stem(normalise(images)))
    return maps, torch.cat(pooled, 1) if pooled else torch.zeros(len(images), 0, device=images.device)


def activations_path(folder: Path, split: str, first_block: int, max_items: int | None) -> Path:
    """One file per (set build, split, first tuned block, demo size)."""
    key = json.dumps([str(folder.resolve()), c2s.load_meta(folder)["config"], first_block, max_items,
                      ACTIVATIONS_VERSION, *devices.cache_tag(devices.current())], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return settings.cache_dir / "activations" / f"{folder.name}_{split}_from{first_block}_{digest}.npz"


def frozen_activations(folder: str | os.PathLike, split: str, first_block: int, max_items: int | None = None,
                       progress: bool = True) -> dict:
    """``{"item_ids", "<view>_maps", "<view>_fixed"}`` for ``split`` (items x variants x ...; maps in
    float16 to halve the cache, the mirrored variant second in training), computed once and cached
    (again where the cache file is damaged or of other items)."""
    folder = Path(folder)
    path = activations_path(folder, split, first_block, max_items)
    rows = [row for row in c2s.load_manifest(folder) if row["split"] == split][:max_items]
    if not rows:
        raise ValueError(f"{folder} has no {split!r} items")
    cached = read_cached(path, [row["item_id"] for row in rows])
    if cached is not None:
        return cached
    device = devices.current()
    network = EfficientNetFCN(num_classes=1, pretrained=True).eval().to(device)
    flips = FLIP_VARIANTS.get(split, 1)
    result = {"item_ids": np.array([row["item_id"] for row in rows])}
    for view in VIEWS:
        maps, fixed = [], []
        for start in progress_bar(range(0, len(rows), FEATURE_BATCH), desc=f"activations: {split} {view}",
                                  leave=False, enabled=progress):
            chunk = rows[start:start + FEATURE_BATCH]
            batch = torch.from_numpy(np.stack([read_view(folder / row[view]) for row in chunk])).to(device)
            parts = [frozen_part(network, batch.flip(2) if variant else batch, first_block) for variant in range(flips)]
            maps.append(torch.stack([p[0] for p in parts], 1).half().cpu().numpy())
            fixed.append(torch.stack([p[1] for p in parts], 1).cpu().numpy())
        result[f"{view}_maps"], result[f"{view}_fixed"] = np.concatenate(maps), np.concatenate(fixed)
    with atomic_write(path, "wb") as f:
        np.savez(f, **result)
    return result


def pair_ids(rows: list[dict], item_ids: np.ndarray, protocol: str) -> np.ndarray:
    """The ID that makes two views positives, per item (``rows``: the set's manifest)."""
    by_id = {row["item_id"]: row for row in rows}
    return np.array([by_id[str(i)][pairs.PROTOCOLS[protocol]] for i in item_ids])


@torch.no_grad()
def validation_scores(model: TunedStage, data: dict, ids: np.ndarray) -> dict:
    """Consumer views against the shop views of the same split by cosine: top-1 / top-20 of the
    projection head's embedding and of the backbone feature itself (what the hashing networks get)."""
    model.eval()
    scores = {}
    out = {view: [] for view in VIEWS}
    device = devices.of(model)
    for view in VIEWS:
        maps = torch.from_numpy(data[f"{view}_maps"][:, 0]).to(device)
        fixed = torch.from_numpy(data[f"{view}_fixed"][:, 0]).to(device)
        for start in range(0, len(maps), 256):
            out[view].append(model.features(maps[start:start + 256], fixed[start:start + 256]))
    features = {view: torch.cat(out[view]) for view in VIEWS}
    relevant = relevance(ids, ids)
    for name, transform in (("feature", lambda x: x), ("embedding", model.head)):
        ranking = float_rank(transform(features["consumer"]).cpu().numpy(), transform(features["shop"]).cpu().numpy())
        for k, v in topk_accuracy(ranking, relevant, ks=(1, 20)).items():
            scores[f"{name}_{k}"] = round(100 * v, 2)
    return scores


def _make_step(config: TuningConfig, data: dict, ids: np.ndarray):
    """A batch of items -> their consumer and shop views (a random mirror variant of each) -> the
    contrastive loss between the two sides. The activations go to the settings' device once."""
    device = devices.current()
    views = {view: tuple(torch.from_numpy(data[f"{view}_{part}"]).to(device) for part in ("maps", "fixed"))
             for view in VIEWS}

    def step(model: TunedStage, batch):
        (items,) = batch
        embedded = []
        for maps, fixed in views.values():
            variant = torch.randint(maps.shape[1], (len(items),), device=items.device)
            embedded.append(model(maps[items, variant], fixed[items, variant]))
        return instance_contrastive_loss(*embedded, ids[items.cpu().numpy()], config.temperature), {}
    return step


def tune_backbone(config: TuningConfig, out: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Tune the blocks from ``config.first_block`` on (resuming from ``<out>.state.pt``) and release
    them to ``out`` with the config, the curve, the validation scores before tuning and the
    consumer-to-shop build they were tuned on. ``out`` None: this config's file in the cache folder
    (``harness.cached_run_path``), where a notebook's small run goes, never into ``checkpoints/``."""
    folder = config.folder
    c2s_key = c2s.load_meta(folder)["config"]
    out = Path(out) if out is not None else harness.cached_run_path("backbone_tuned", config, c2s_key)
    torch.manual_seed(config.seed)
    train_data = frozen_activations(folder, "train", config.first_block, config.max_items, progress)
    val_data = frozen_activations(folder, "val", config.first_block, config.max_items, progress)
    manifest = c2s.load_manifest(folder)
    train_ids = pair_ids(manifest, train_data["item_ids"], config.protocol)
    val_ids = pair_ids(manifest, val_data["item_ids"], config.protocol)
    model = TunedStage(config.first_block, config.embedding).to(devices.current())
    before = validation_scores(model, val_data, val_ids)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(len(train_ids))),
                                         batch_size=min(config.batch_size, len(train_ids)), shuffle=True,
                                         drop_last=True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)

    def validate(model):
        return {f"val_{k}": v for k, v in validation_scores(model, val_data, val_ids).items()}

    return harness.train_run(config, out, kind="backbone", model=model, loader=loader, optimizer=optimizer,
                             step=_make_step(config, train_data, train_ids), validate=validate,
                             desc="tuning the backbone", before_tuning=before,
                             supervision=f"{config.protocol} IDs of consumer/shop views only",
                             data=c2s_key, c2s_config=c2s_key)
