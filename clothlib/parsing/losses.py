"""Pixel losses for training a parser: cross-entropy, and the Lovász-softmax that targets mean IU.

Cross-entropy scores each pixel alone, so the background, which covers most pixels, dominates it,
and a thin class (belt, sunglasses) can be given up cheaply. Mean IU, the metric we report, weighs
every class alike. The Lovász-softmax loss (Berman, Rannen Triki, Blaschko, CVPR 2018) is the
Lovász extension of each class's Jaccard loss ``1 - IoU``: a convex, piecewise-linear function of the
per-pixel errors ``|[label == c] - p_c|`` that equals ``1 - IoU_c`` wherever the probabilities are
one-hot. Averaged over the classes present in the batch, it optimises (a surrogate of) mean IU
directly. Its authors fine-tune a network trained with cross-entropy with it, which is how the
course tries it (``python -m clothlib.parsing train --init checkpoints/effnet_fcn.pt --loss
lovasz_softmax``).

Losses take scores and labels only (no dataset import); pixels labelled ``ignore_index`` count in
neither.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def cross_entropy(scores: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Pixel-wise cross-entropy averaged over the labelled pixels (N x C x H x W scores, N x H x W labels)."""
    return F.cross_entropy(scores, labels, ignore_index=ignore_index)


def lovasz_gradient(foreground_sorted: torch.Tensor) -> torch.Tensor:
    """The Jaccard loss's increments along pixels sorted by decreasing error (Berman et al., Alg. 1):
    entry i is J(first i+1 errors) - J(first i errors), whose dot product with the sorted errors is the
    Lovász extension."""
    total = foreground_sorted.sum()
    intersection = total - foreground_sorted.cumsum(0)
    union = total + (1 - foreground_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


def lovasz_softmax(scores: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Lovász-softmax loss over a batch: the mean over the classes present in ``labels`` of the Lovász
    extension of ``1 - IoU_c`` at the softmax probabilities (N x C x H x W scores, N x H x W labels).

    One IoU per class over the whole batch's pixels, as a confusion matrix sums them, not one per
    photo. A batch with no labelled pixel gives 0 (with a gradient, so a step stays possible).
    """
    probabilities = scores.softmax(1).permute(0, 2, 3, 1).reshape(-1, scores.shape[1])
    labels = labels.reshape(-1)
    keep = labels != ignore_index
    probabilities, labels = probabilities[keep], labels[keep]
    losses = []
    for c in torch.unique(labels).tolist():
        foreground = (labels == c).to(probabilities.dtype)
        errors = (foreground - probabilities[:, c]).abs()
        errors_sorted, order = torch.sort(errors, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_gradient(foreground[order])))
    return torch.stack(losses).mean() if losses else scores.sum() * 0


PIXEL_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]] = {
    "cross_entropy": cross_entropy, "lovasz_softmax": lovasz_softmax}


def pixel_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]:
    """The loss ``ParsingConfig.loss`` names."""
    if name not in PIXEL_LOSSES:
        raise ValueError(f"unknown parsing loss {name!r}: choose one of {', '.join(PIXEL_LOSSES)}")
    return PIXEL_LOSSES[name]
