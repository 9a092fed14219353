"""Training a hashing network through the shared run harness, and the load-or-train rule.

Training runs on cached backbone features (:mod:`clothlib.hashing.features`), so a step costs a
few matrix products: the default run (30 epochs over ~7,200 training items) takes two to four
minutes on two cores, after the features have been computed once.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from .. import devices, harness
from ..data import c2s
from .checkpoints import load_checkpoint
from .config import TRAIN_SCRIPT, HashingConfig, shipped_path
from .evaluation import evaluate_views
from .losses import dsh_loss, multitask_loss, pair_labels
from .models import HashingNet, build_model, task_values
from .splitdata import SplitData, load_split_data


def _on_device(data: SplitData, device) -> SplitData:
    """The training split's features and targets on ``device``, once: a step then only indexes them
    (the whole split's features are a few tens of megabytes)."""
    return dataclasses.replace(data, consumer=data.consumer.to(device), shop=data.shop.to(device),
                               targets=devices.to_device(data.targets, device))


def training_step(config: HashingConfig, data: SplitData):
    """The training step: a batch of items -> their consumer and shop views (a random mirror
    variant of each) -> eq. 4 over all pairs of the 2N views + eq. 5 on every view."""
    def step(model: HashingNet, batch):
        (items,) = batch
        variants = data.consumer.shape[1]
        consumer = data.consumer[items, torch.randint(variants, (len(items),), device=items.device)]
        shop = data.shop[items, torch.randint(variants, (len(items),), device=items.device)]
        out = model(torch.cat([consumer, shop]))
        both = torch.cat([items, items]).cpu().numpy()  # the pair rule's labels are NumPy's
        pairs = dsh_loss(out["codes"], pair_labels(data.pair_ids[both], data.categories[both]).to(items.device),
                         config.pair_margin, config.regulariser_weight, config.same_category_margin)
        tasks = multitask_loss(out["logits"], {t: data.targets[t][both] for t in out["logits"]}, config.mu)
        numbers = {f"train_{k}": v.item() for k, v in {**pairs, **tasks}.items() if k != "loss"}
        return pairs["loss"] + tasks["loss"], numbers
    return step


@torch.no_grad()
def fit_quantiser(model: HashingNet, data: SplitData, seed: int = 0) -> None:
    """The quantiser's step after training (``itq``: its rotation), learnt on the training split's trunk
    features of both views of every item, unmirrored, so the sign loses least."""
    model.eval()
    features = torch.cat([model.trunk(view[:, 0]) for view in (data.consumer, data.shop)])
    model.quantiser.fit(model.hash, features, seed)


def train(config: HashingConfig, out: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Train ``config`` (resuming from ``<out>.state.pt``) and release the checkpoint ``out`` with
    its curve ``<out stem>.curve.json``. ``out`` None: this config's file in the cache folder
    (``harness.cached_run_path``), where a demo or an exercise trains, never into ``checkpoints/``."""
    c2s_key = c2s.load_meta(config.folder)["config"]
    out = Path(out) if out is not None else harness.cached_run_path(config.name, config, c2s_key)
    torch.manual_seed(config.seed)
    device = devices.current()
    data = _on_device(load_split_data(config, "train", config.max_items, progress), device)
    val = load_split_data(config, "val", config.max_items, progress)
    model = build_model(config, data.consumer.shape[-1]).to(device)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(len(data))),
                                         batch_size=min(config.batch_size, len(data)), shuffle=True, drop_last=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def validate(model):
        return {f"val_{k}": v for k, v in evaluate_views(model, val).items()}

    return harness.train_run(config, out, kind="hashing", model=model, loader=loader, optimizer=optimizer,
                             step=training_step(config, data), validate=validate,
                             finish=(lambda model: fit_quantiser(model, data, config.seed)) if model.quantiser.fits
                             else None,
                             desc=f"{config.model} {config.bits} bits", in_features=data.consumer.shape[-1],
                             tasks={task: task_values(task) for task in model.tasks},
                             data=c2s_key, c2s_config=c2s_key)


def load_or_train(config: HashingConfig, train_if_missing: bool = False) -> tuple[HashingNet, HashingConfig, dict]:
    """The shipped checkpoint of ``config``'s model, bits and backbone (``checkpoints/hash_*.pt``);
    else an earlier opted-in run of this very config from the cache folder; else a
    :class:`~clothlib.harness.MissingCheckpointError` naming the script that makes the shipped
    files, unless ``train_if_missing`` asks to train ``config`` into the cache folder."""
    return harness.load_or_train(shipped_path(config), config, load=load_checkpoint, train=train,
                                 command=TRAIN_SCRIPT, train_if_missing=train_if_missing,
                                 data=lambda: c2s.load_meta(config.folder)["config"])
