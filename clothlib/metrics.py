"""Segmentation metrics from one confusion matrix over a whole split (torchvision references style).

Overall accuracy, mean (per-class) accuracy and mean IU as in FCN (Long et al. 2015) and the
paper's Tables 1-3. A class absent from both ground truth and prediction has an undefined IU
(0/0 = NaN) and is left out of the means (``nanmean``), instead of counting as 0 or 1.
"""
from __future__ import annotations

import numpy as np


class ConfusionMatrix:
    """``mat[true, predicted]`` pixel counts; targets outside ``0..num_classes-1`` are ignored."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.mat = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, target, prediction) -> None:
        target = np.asarray(target).ravel().astype(np.int64)
        prediction = np.asarray(prediction).ravel().astype(np.int64)
        keep = (target >= 0) & (target < self.num_classes)
        n = self.num_classes
        self.mat += np.bincount(n * target[keep] + prediction[keep], minlength=n * n).reshape(n, n)

    def compute(self) -> tuple[float, np.ndarray, np.ndarray]:
        """Overall accuracy, per-class accuracy (recall) and per-class IU; NaN where undefined."""
        h = self.mat.astype(np.float64)
        diag = np.diag(h)
        with np.errstate(divide="ignore", invalid="ignore"):
            overall = diag.sum() / h.sum()
            per_class_acc = diag / h.sum(1)
            iou = diag / (h.sum(1) + h.sum(0) - diag)
        return float(overall), per_class_acc, iou

    def summary(self, class_names: list[str] | None = None) -> dict:
        """Percentages, JSON-ready (NaN becomes None)."""
        overall, acc, iou = self.compute()
        names = class_names or [str(i) for i in range(self.num_classes)]

        def pct(values):
            return {name: (None if np.isnan(v) else round(100 * float(v), 3)) for name, v in zip(names, values)}

        return {
            "overall_acc": round(100 * overall, 3),
            "mean_acc": round(100 * float(np.nanmean(acc)), 3),
            "mean_iu": round(100 * float(np.nanmean(iou)), 3),
            "per_class_acc": pct(acc),
            "per_class_iou": pct(iou),
            "confusion_matrix": self.mat.tolist(),
        }

    def __str__(self) -> str:
        overall, acc, iou = self.compute()
        return (f"overall acc {100 * overall:.2f} | mean acc {100 * np.nanmean(acc):.2f} | "
                f"mean IU {100 * np.nanmean(iou):.2f}")
