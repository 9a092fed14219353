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


def label_boundaries(labels: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour has another label (a 1-px-wide boundary map)."""
    edges = np.zeros(labels.shape, dtype=bool)
    edges[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edges[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edges


class BoundaryF:
    """Boundary F-score: how many predicted label edges lie within ``tolerance`` px of a true one
    (precision) and how many true edges are matched by a predicted one (recall), summed over a split.

    Region metrics barely move when a boundary shifts by a few pixels; this one is built to see it,
    which is what a CRF claims to improve.
    """

    def __init__(self, tolerance: int = 3):
        self.tolerance = tolerance
        self.counts = np.zeros(4, dtype=np.int64)  # matched predicted, predicted, matched true, true

    def update(self, target: np.ndarray, prediction: np.ndarray) -> None:
        from scipy.ndimage import distance_transform_edt

        true_edges, predicted_edges = label_boundaries(np.asarray(target)), label_boundaries(np.asarray(prediction))
        near_true = distance_transform_edt(~true_edges) <= self.tolerance
        near_predicted = distance_transform_edt(~predicted_edges) <= self.tolerance
        self.counts += [(predicted_edges & near_true).sum(), predicted_edges.sum(),
                        (true_edges & near_predicted).sum(), true_edges.sum()]

    def compute(self) -> dict:
        matched_pred, pred, matched_true, true = self.counts
        precision = matched_pred / pred if pred else float("nan")
        recall = matched_true / true if true else float("nan")
        f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return {"boundary_precision": round(100 * float(precision), 3),
                "boundary_recall": round(100 * float(recall), 3), "boundary_f": round(100 * float(f), 3),
                "boundary_tolerance_px": self.tolerance}
