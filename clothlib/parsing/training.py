"""Training a parsing network, and releasing a checkpoint (the files a run writes).

:func:`train` builds the run (model, augmented loader, SGD with momentum, the pixel loss the config
names, validation on the validation split after every epoch; with ``init``, the model starts from a
released checkpoint's weights: fine-tuning) and hands it to
:func:`clothlib.harness.train_run`, which resumes from ``<out>.state.pt`` and releases the
checkpoint: fp16 weights, the config, the class table, the splits used and the validation curve,
so nothing else is needed to use it. :func:`release` writes the same checkpoint again from a
loaded model (``tune-height`` re-releases one with the inference height it chose).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .. import devices, engine, harness
from ..data.classes import CLASSES, IGNORE_INDEX, ccp_to_class
from ..data.dataset import CCPParsing, train_transform
from ..data.splits import load_split
from .config import ParsingConfig
from .inference import SUMMARY_METRICS, evaluate
from .losses import pixel_loss
from .models import make_model

KIND = "parsing"  # the checkpoint kind a loader checks


def _release_fields(config: ParsingConfig) -> dict:
    """What a parsing checkpoint carries besides weights, config and curve."""
    return {"classes": CLASSES, "ccp_to_class": ccp_to_class(),
            "splits": {"train": config.train_split, "val": config.val_split}}


def pixel_step(loss_name: str):
    """The training step for the loss ``loss_name``: the loss to minimise, and the pixel accuracy."""
    loss_fn = pixel_loss(loss_name)

    def step(model, batch):
        images, masks = batch
        with devices.autocast(images.device):  # bfloat16 convolutions on a GPU; the loss in float32
            scores = model(images).float()
        loss = loss_fn(scores, masks, IGNORE_INDEX)
        valid = masks != IGNORE_INDEX
        pixel_acc = (scores.argmax(1)[valid] == masks[valid]).float().mean().item()
        return loss, {"train_pixel_acc": pixel_acc}

    return step


def _initial_model(config: ParsingConfig) -> torch.nn.Module:
    """``config``'s network: freshly initialised (ImageNet encoder for effnet_fcn), or with the weights
    of the released checkpoint ``config.init``, which must be the same architecture."""
    if config.init is None:
        return make_model(config)
    model, started, _ = harness.load_run(config.init, KIND, ParsingConfig,
                                         lambda run, _: make_model(run, pretrained=False),
                                         "a released parsing checkpoint (--init)")
    if (started.model, started.width) != (config.model, config.width):
        raise ValueError(f"--init {config.init} holds {started.model} (width {started.width}); this run trains "
                         f"{config.model} (width {config.width}): pass a checkpoint of the same model")
    return model


def train(config: ParsingConfig, out: str | os.PathLike, progress: bool = True) -> Path:
    """Train ``config`` (resuming from ``<out>.state.pt``), release it to ``out`` and write its curve
    as ``<out stem>.curve.json``; returns ``out``."""
    torch.manual_seed(config.seed)  # the initial weights of net1 / net2 and the decoder
    device = devices.current()
    model = _initial_model(config).to(device)
    dataset = CCPParsing(ids=load_split(config.train_split, max_photos=config.max_photos),
                         transform=train_transform(config.crop, config.scale, config.base_height))
    # Workers are re-forked every epoch (not persistent), so their augmentation seeds come from the
    # epoch's seed and a resumed run repeats an uninterrupted one exactly.
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=True,
                                         **devices.loader_options(device, config.workers))
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    val_ids = load_split(config.val_split, max_photos=config.max_photos)

    def validate(model):
        summary = evaluate(model, val_ids, config.eval_height, progress).summary(CLASSES)
        return {f"val_{key}": summary[key] for key in SUMMARY_METRICS}

    return harness.train_run(config, out, kind=KIND, model=model, loader=loader, optimizer=optimizer,
                             step=pixel_step(config.loss), validate=validate, desc=config.model,
                             **_release_fields(config))


def release(model: torch.nn.Module, config: ParsingConfig, history: list[dict], out: str | os.PathLike) -> Path:
    """Write ``model`` as a released checkpoint ``out``, with the fields :func:`train` gives it."""
    return engine.release(out, KIND, model, config=config.to_dict(), history=history, **_release_fields(config))
