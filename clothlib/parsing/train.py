"""Training, evaluation and prediction for the parsing networks.

``ParsingConfig`` is the one place the parsing hyper-parameters live; the CLI, the notebooks and
the checkpoints all carry it. A released checkpoint holds fp16 weights, the config, the class
table, the splits used and the validation curve, so nothing else is needed to use it.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__, engine
from ..config import progress_bar, settings
from ..data.ccp import read_class_mask, read_photo
from ..data.classes import CLASSES, IGNORE_INDEX, NUM_CLASSES, ccp_to_class
from ..data.dataset import IMAGENET_MEAN, IMAGENET_STD, CCPParsing, train_transform
from ..data.splits import load_split
from ..engine import fit, poly_schedule
from ..io import atomic_write
from ..metrics import ConfusionMatrix
from .models import build_model


@dataclass
class ParsingConfig:
    """Everything that defines a parsing run. Learning rates are for the pixel-MEAN loss."""

    model: str = "effnet_fcn"
    width: float = 0.25          # VGG channel multiplier for net1 / net2 (1.0 = paper size)
    dropout: float = 0.1         # net2's dropout after every max-pool
    epochs: int = 30
    batch_size: int = 8
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    crop: tuple[int, int] = (320, 224)   # training crop (height, width)
    base_height: int = 416       # photos are resized to this height (x a random scale) for training
    scale: tuple[float, float] = (0.7, 1.3)
    eval_height: int = 416       # inference height; scores are upsampled to the annotation's size
    seed: int = 0
    workers: int = 1
    train_split: str = "train"
    val_split: str = "val"
    max_photos: int | None = None  # cap on photos per split (fast mode, sweeps)

    @classmethod
    def from_dict(cls, values: dict) -> "ParsingConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in fields}
        return cls(**values)


def make_model(config: ParsingConfig, pretrained: bool = True) -> torch.nn.Module:
    return build_model(config.model, NUM_CLASSES, width=config.width, dropout=config.dropout,
                       pretrained=pretrained)


def _normalise(photo: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(photo).permute(2, 0, 1).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


@torch.no_grad()
def predict_scores(model: torch.nn.Module, photo: np.ndarray, eval_height: int) -> torch.Tensor:
    """Class probabilities (classes x H x W) at the photo's own size: the network runs at
    ``eval_height`` and its scores are upsampled bilinearly to the original resolution."""
    model.eval()
    height, width = photo.shape[:2]
    x = _normalise(photo)
    if eval_height and eval_height != height:
        x = F.interpolate(x, size=(eval_height, round(width * eval_height / height)), mode="bilinear",
                          align_corners=False, antialias=True)
    scores = model(x)
    scores = F.interpolate(scores, size=(height, width), mode="bilinear", align_corners=False)
    return scores.softmax(1)[0]


def evaluate(model: torch.nn.Module, photo_ids: list[str], eval_height: int, progress: bool = True) -> ConfusionMatrix:
    """One confusion matrix over all ``photo_ids``, at the annotation resolution."""
    matrix = ConfusionMatrix(NUM_CLASSES)
    for photo_id in progress_bar(photo_ids, progress, desc="evaluate", leave=False):
        prediction = predict_scores(model, read_photo(photo_id), eval_height).argmax(0)
        matrix.update(read_class_mask(photo_id), prediction.numpy())
    return matrix


def _cross_entropy_step(model, batch):
    images, masks = batch
    scores = model(images)
    loss = F.cross_entropy(scores, masks, ignore_index=IGNORE_INDEX)
    valid = masks != IGNORE_INDEX
    pixel_acc = (scores.argmax(1)[valid] == masks[valid]).float().mean().item()
    return loss, {"train_pixel_acc": pixel_acc}


def train(config: ParsingConfig, out: str | os.PathLike, progress: bool = True) -> Path:
    """Train, keeping resumable state in ``<out>.state.pt``; write the released checkpoint ``out``
    (fp16 weights + config + classes + curve) and the curve as ``<out stem>.curve.json``."""
    out = Path(out)
    torch.manual_seed(config.seed)
    model = make_model(config)
    dataset = CCPParsing(ids=load_split(config.train_split, max_photos=config.max_photos),
                         transform=train_transform(config.crop, config.scale, config.base_height))
    # Workers are re-forked every epoch (not persistent), so their augmentation seeds come from the
    # epoch's seed and a resumed run repeats an uninterrupted one exactly.
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=True,
                                         num_workers=config.workers)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    scheduler = poly_schedule(optimizer, config.epochs * len(loader))
    val_ids = load_split(config.val_split, max_photos=config.max_photos)

    def validate(model):
        summary = evaluate(model, val_ids, config.eval_height, progress).summary(CLASSES)
        return {f"val_{key}": summary[key] for key in ("overall_acc", "mean_acc", "mean_iu")}

    history = fit(model, optimizer, loader, _cross_entropy_step, epochs=config.epochs,
                  state_path=out.with_suffix(".state.pt"), evaluate=validate, scheduler=scheduler,
                  seed=config.seed, meta=dataclasses.asdict(config), desc=config.model)
    release(model, config, history, out)
    return out


def release(model: torch.nn.Module, config: ParsingConfig, history: list[dict], out: Path) -> None:
    """Write the checkpoint that is committed and loaded by the course, and its curve as JSON."""
    engine.release(out, "parsing", model, config=dataclasses.asdict(config), classes=CLASSES,
                   ccp_to_class=ccp_to_class(), splits={"train": config.train_split, "val": config.val_split},
                   history=history)
    with atomic_write(out.with_suffix(".curve.json")) as f:
        json.dump(history, f, indent=1)


def load_checkpoint(path: str | os.PathLike) -> tuple[torch.nn.Module, ParsingConfig, dict]:
    """Model (eval mode, float32), its config and the whole checkpoint dict (plus its ``path``)."""
    checkpoint = engine.load_release(path, "parsing", f"python -m clothlib.parsing train ... "
                                     f"(see {settings.checkpoint_dir / 'README.md'})")
    config = ParsingConfig.from_dict(checkpoint["config"])
    model = make_model(config, pretrained=False)
    model.load_state_dict(checkpoint["weights"])
    return model.eval(), config, checkpoint


def load_or_train(config: ParsingConfig, name: str | None = None) -> tuple[torch.nn.Module, ParsingConfig, dict]:
    """The shipped ``checkpoints/<name>.pt`` if present; otherwise train ``config`` into the cache
    folder (never over the shipped checkpoints) and load that."""
    name = name or config.model
    shipped = settings.checkpoint_dir / f"{name}.pt"
    if shipped.exists():
        return load_checkpoint(shipped)
    trained = settings.cache_dir / "checkpoints" / f"{name}.pt"
    if not trained.exists():
        print(f"{shipped} not found: training {name} for {config.epochs} epochs into {trained}")
        train(config, trained)
    return load_checkpoint(trained)


EVAL_HEIGHTS = (416, 512, 640, 768)


def tune_eval_height(path: str | os.PathLike, heights=EVAL_HEIGHTS, split: str = "val", progress: bool = True) -> dict:
    """Choose the inference height by mean IU on the validation split and store it in the checkpoint's
    config (``eval_height``), with every height's metrics in ``<stem>.eval_height.json``. Networks
    trained on rescaled crops often see small garments (belts, legwear) better at a larger scale
    than the one they were trained at; only the validation split says by how much."""
    model, config, checkpoint = load_checkpoint(path)
    ids = load_split(split)
    rows = []
    for height in heights:
        summary = evaluate(model, ids, height, progress).summary(CLASSES)
        rows.append({"eval_height": height, **{k: summary[k] for k in ("overall_acc", "mean_acc", "mean_iu")}})
    best = max(rows, key=lambda row: row["mean_iu"])
    result = {"checkpoint": Path(path).name, "split": split, "photos": len(ids), "heights": rows,
              "previous": config.eval_height, "best": best["eval_height"], "clothlib": __version__}
    release(model, dataclasses.replace(config, eval_height=best["eval_height"]), checkpoint["history"], Path(path))
    with atomic_write(Path(path).with_suffix(".eval_height.json")) as f:
        json.dump(result, f, indent=1)
    return result


def evaluate_checkpoint(path: str | os.PathLike, split: str = "test", max_photos: int | None = None,
                        progress: bool = True) -> dict:
    """Metrics of a checkpoint on a split. Over the whole split they are also written next to it as
    ``<stem>.<split>.metrics.json`` (a subset's numbers are only returned, never saved as the split's)."""
    model, config, _ = load_checkpoint(path)
    ids = load_split(split, max_photos=max_photos)
    summary = evaluate(model, ids, config.eval_height, progress).summary(CLASSES)
    summary.update({"checkpoint": Path(path).name, "split": split, "photos": len(ids),
                    "eval_height": config.eval_height, "clothlib": __version__})
    if len(ids) == len(load_split(split)):
        with atomic_write(Path(path).with_suffix(f".{split}.metrics.json")) as f:
            json.dump(summary, f, indent=1)
    return summary

