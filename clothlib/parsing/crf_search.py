"""Tuning the dense CRF on the validation split and measuring it on the test split (paper Table 3).

The search never looks at the test split. It runs the network once per photo, keeps its
probabilities at the CRF's working scale, and scores every kernel setting on the same inputs; the
best setting by validation mean IU is stored beside the checkpoint (``<stem>.crf.json``), and that
file is the one place ``predict --crf`` and the notebooks read the tuned parameters from.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import progress_bar
from .. import __version__
from ..data.ccp import read_class_mask, read_photo
from ..data.classes import CLASSES, NUM_CLASSES
from ..data.splits import load_split
from ..io import atomic_write
from ..metrics import BoundaryF, ConfusionMatrix
from .crf import CRFParams, refine_split, resize_image, resize_probs
from .train import load_checkpoint, predict_scores

CRF_GRID = {"bilateral_sxy": (20.0, 40.0, 80.0), "bilateral_srgb": (5.0, 10.0, 20.0),
            "bilateral_weight": (3.0, 10.0)}
SEARCH_SCALE = 0.5


def crf_file(checkpoint: str | os.PathLike) -> Path:
    return Path(checkpoint).with_suffix(".crf.json")


def tuned_crf_params(checkpoint: str | os.PathLike) -> CRFParams:
    """The setting chosen on the validation split for this checkpoint, or an error saying how to tune."""
    path = crf_file(checkpoint)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: tune the CRF first with "
                                f"`python -m clothlib.parsing crf-search --checkpoint {checkpoint}`")
    return CRFParams.from_dict(json.loads(path.read_text())["best"])


class SplitScore:
    """Confusion matrix and boundary F-score over a split, at the annotation resolution."""

    def __init__(self):
        self.matrix = ConfusionMatrix(NUM_CLASSES)
        self.boundary = BoundaryF()

    def update(self, photo_id: str, labels: np.ndarray) -> None:
        truth = read_class_mask(photo_id)
        if labels.shape != truth.shape:  # labels from a shrunk photo: nearest-neighbour back up
            labels = np.asarray(Image.fromarray(labels).resize(truth.shape[::-1], Image.NEAREST))
        self.matrix.update(truth, labels)
        self.boundary.update(truth, labels)

    def summary(self) -> dict:
        return {**self.matrix.summary(CLASSES), **self.boundary.compute()}


def search_crf(checkpoint: str | os.PathLike, split: str = "val", grid: dict = CRF_GRID, scale: float = SEARCH_SCALE,
               iterations: int = 5, max_photos: int | None = None, workers: int = 2, progress: bool = True) -> dict:
    """Score every setting of ``grid`` (other parameters at their defaults) on ``split``; write the
    results and the best setting (by mean IU) to ``<stem>.crf.json`` and return them."""
    model, config, _ = load_checkpoint(checkpoint)
    ids = load_split(split, max_photos=max_photos)
    shrunk = {}
    baseline = SplitScore()
    for photo_id in progress_bar(ids, desc=f"network on {split}", enabled=progress):
        photo = read_photo(photo_id)
        probs = predict_scores(model, photo, config.eval_height).numpy()
        size = (round(photo.shape[0] * scale), round(photo.shape[1] * scale))
        shrunk[photo_id] = (resize_image(photo, *size), resize_probs(probs, *size).astype(np.float16))
        baseline.update(photo_id, shrunk[photo_id][1].argmax(0).astype(np.uint8))

    def load(photo_id):
        image, probs = shrunk[photo_id]
        return image, probs.astype(np.float32)

    runs = []
    for values in progress_bar(list(itertools.product(*grid.values())), desc="CRF settings", enabled=progress):
        params = CRFParams(iterations=iterations, scale=scale, **dict(zip(grid, values)))
        score = SplitScore()
        for photo_id, labels in refine_split(ids, load, params.at_scale(), workers=workers, progress=False):
            score.update(photo_id, labels)
        summary = score.summary()
        runs.append({**params.to_dict(), **{k: summary[k] for k in ("overall_acc", "mean_acc", "mean_iu", "boundary_f")}})
    best = max(runs, key=lambda run: run["mean_iu"])
    fcn = baseline.summary()
    result = {"checkpoint": Path(checkpoint).name, "split": split, "photos": len(ids), "scale": scale,
              "grid": grid, "chosen_by": f"{split} mean IU",
              "fcn": {k: fcn[k] for k in ("overall_acc", "mean_acc", "mean_iu", "boundary_f")},
              "runs": runs, "best": CRFParams.from_dict(best).to_dict(), "clothlib": __version__}
    with atomic_write(crf_file(checkpoint)) as f:
        json.dump(result, f, indent=1)
    return result


def evaluate_crf(checkpoint: str | os.PathLike, split: str = "test", params: CRFParams | None = None,
                 max_photos: int | None = None, workers: int = 2, progress: bool = True, save: bool = False) -> dict:
    """FCN and FCN-CRF metrics side by side on ``split`` (the CRF at the tuned setting unless
    ``params`` is given). With ``save`` (the CLI) and over a whole split they are written to
    ``<stem>.<split>.crf.metrics.json``; notebooks only compute them, so shipped results stay as released."""
    model, config, _ = load_checkpoint(checkpoint)
    params = params or tuned_crf_params(checkpoint)
    ids = load_split(split, max_photos=max_photos)
    fcn, crf = SplitScore(), SplitScore()

    def load(photo_id):
        photo = read_photo(photo_id)
        probs = predict_scores(model, photo, config.eval_height).numpy()
        fcn.update(photo_id, probs.argmax(0).astype(np.uint8))
        return photo, probs

    for photo_id, labels in refine_split(ids, load, params, workers=workers, progress=progress):
        crf.update(photo_id, labels)
    result = {"checkpoint": Path(checkpoint).name, "split": split, "photos": len(ids),
              "crf_params": dataclasses.asdict(params), "fcn": fcn.summary(), "crf": crf.summary(),
              "clothlib": __version__}
    if save and len(ids) == len(load_split(split)):
        with atomic_write(Path(checkpoint).with_suffix(f".{split}.crf.metrics.json")) as f:
            json.dump(result, f, indent=1)
    return result
