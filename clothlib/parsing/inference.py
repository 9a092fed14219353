"""Running a parsing network and scoring it: probabilities for a photo, metrics over photos.

Everything here takes a model and computes; nothing loads a checkpoint or writes a file
(:mod:`clothlib.parsing.evaluation` does the same for a checkpoint file, and the command line
saves what it returns).

Scores are kept per photo as well as summed (:class:`SplitScore`), and the results files keep
both. A file over the whole test split can then be re-scored on any subset of its photos, which
is how a notebook checks, in fast mode on a few photos as in default mode on all of them, that
its recomputation reproduces the shipped numbers.
"""
from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import devices
from ..config import progress_bar
from ..data.ccp import read_class_mask, read_photo
from ..data.classes import CLASSES, NUM_CLASSES
from ..data.images import normalise
from ..metrics import BoundaryF, ConfusionMatrix

SUMMARY_METRICS = ("overall_acc", "mean_acc", "mean_iu")
# Test-time augmentations (issue 14's levers): the network's probabilities averaged over the photo at
# these multiples of the inference height, and its mirror image too where ``flip``. ``none`` is what
# the course ships; the others cost one forward pass per scale and mirror.
TEST_TIME_AUGMENTATIONS = {
    "none": {"scales": (1.0,), "flip": False},
    "flip": {"scales": (1.0,), "flip": True},
    "flip_scales": {"scales": (0.75, 1.0, 1.25), "flip": True},
}


@torch.no_grad()
def predict_scores(model: torch.nn.Module, photo: np.ndarray, eval_height: int, scales: tuple[float, ...] = (1.0,),
                   flip: bool = False) -> torch.Tensor:
    """Class probabilities (classes x H x W) at the photo's own size: the network runs at
    ``eval_height`` (times each of ``scales``; and on the mirrored photo too with ``flip``, its
    scores mirrored back) and its probabilities, upsampled bilinearly to the original resolution,
    are averaged, on the model's device, and returned on the CPU (for NumPy and the dense CRF)."""
    model.eval()
    height, width = photo.shape[:2]
    device = devices.of(model)
    x = normalise(torch.as_tensor(photo).to(device))
    total = torch.zeros((), device=device)
    for scale in scales:
        target = round((eval_height or height) * scale)
        resized = x if target == height else F.interpolate(
            x, size=(target, round(width * target / height)), mode="bilinear", align_corners=False, antialias=True)
        for mirrored in (False, True)[:1 + flip]:
            scores = model(resized.flip(3) if mirrored else resized)
            scores = F.interpolate(scores.flip(3) if mirrored else scores, size=(height, width), mode="bilinear",
                                   align_corners=False)
            total = total + scores.softmax(1)[0]
    return (total / (len(scales) * (1 + flip))).cpu()


class SplitScore:
    """Confusion matrix (and, with ``boundary``, boundary F-score) over photos, at the annotation
    resolution, kept per photo too: ``summary()["per_photo"]`` holds each photo's confusion matrix
    (and boundary counts), and :meth:`of_photos` rebuilds the score of any of them from a summary."""

    def __init__(self, boundary: bool = False, tolerance: int = 3):
        self.matrix = ConfusionMatrix(NUM_CLASSES)
        self.boundary = BoundaryF(tolerance) if boundary else None
        self.per_photo: dict[str, dict[str, np.ndarray]] = {}

    def _add(self, photo_id: str, confusion: np.ndarray, boundary_counts: np.ndarray | None) -> None:
        self.matrix.mat += confusion
        self.per_photo[photo_id] = {"confusion": confusion}
        if self.boundary is not None:
            self.boundary.counts += boundary_counts
            self.per_photo[photo_id]["boundary_counts"] = boundary_counts

    def update(self, photo_id: str, labels: np.ndarray) -> None:
        """Score ``labels`` (H x W class indices) against the photo's annotation."""
        truth = read_class_mask(photo_id)
        labels = np.asarray(labels)
        if labels.shape != truth.shape:  # labels from a shrunk photo: nearest-neighbour back up
            labels = np.asarray(Image.fromarray(labels.astype(np.uint8)).resize(truth.shape[::-1], Image.NEAREST))
        photo = ConfusionMatrix(NUM_CLASSES)
        photo.update(truth, labels)
        edges = None
        if self.boundary is not None:
            edges = BoundaryF(self.boundary.tolerance)
            edges.update(truth, labels)
            edges = edges.counts
        self._add(photo_id, photo.mat, edges)

    def summary(self) -> dict:
        """The metrics over every photo scored (percentages, JSON-ready) and ``per_photo``."""
        boundary = self.boundary.compute() if self.boundary is not None else {}
        per_photo = {photo_id: {key: value.tolist() for key, value in parts.items()}
                     for photo_id, parts in self.per_photo.items()}
        return {**self.matrix.summary(CLASSES), **boundary, "per_photo": per_photo}

    @classmethod
    def of_photos(cls, summary: dict, photo_ids: Iterable[str]) -> SplitScore:
        """The score of ``photo_ids`` alone, from a ``summary()`` (e.g. read from a results file)."""
        photo_ids = list(photo_ids)
        per_photo = summary.get("per_photo", {})
        missing = [photo_id for photo_id in photo_ids if photo_id not in per_photo]
        if missing:
            raise ValueError(f"{len(missing)} of the {len(photo_ids)} photos (e.g. {missing[0]}) have no per-photo "
                             "scores in these results: they cover other photos, or were written before per-photo "
                             "scores were kept; regenerate them with `python -m clothlib.parsing evaluate` "
                             "(or `crf-eval`)")
        score = cls(boundary="boundary_f" in summary, tolerance=summary.get("boundary_tolerance_px", 3))
        for photo_id in photo_ids:
            parts = per_photo[photo_id]
            counts = parts.get("boundary_counts")
            score._add(photo_id, np.asarray(parts["confusion"], dtype=np.int64),
                       None if counts is None else np.asarray(counts, dtype=np.int64))
        return score


def score_photos(model: torch.nn.Module, photo_ids: list[str], eval_height: int, progress: bool = True,
                 augmentation: str = "none", seconds: list | None = None) -> SplitScore:
    """The network's arg-max labels (with a test-time ``augmentation``) scored on each of ``photo_ids``
    (a :class:`SplitScore`); ``seconds``, if given, receives each photo's inference time."""
    score = SplitScore()
    for photo_id in progress_bar(photo_ids, progress, desc="evaluate", leave=False):
        photo = read_photo(photo_id)
        started = time.perf_counter()
        labels = predict_scores(model, photo, eval_height, **TEST_TIME_AUGMENTATIONS[augmentation]).argmax(0).numpy()
        if seconds is not None:
            seconds.append(time.perf_counter() - started)
        score.update(photo_id, labels)
    return score


def evaluate(model: torch.nn.Module, photo_ids: list[str], eval_height: int, progress: bool = True) -> ConfusionMatrix:
    """One confusion matrix over all ``photo_ids``, at the annotation resolution."""
    return score_photos(model, photo_ids, eval_height, progress).matrix
