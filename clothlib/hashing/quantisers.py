"""How a hashing network turns its trunk's features into bits: the quantiser at the end of the hash layer.

The paper (DSH) trains tanh units and adds a regulariser, ``alpha * || |h| - 1 ||_1``, that draws them
towards +-1, so that ``sign()`` at test time loses little. Measured on the shipped catt3_net (48 bits),
the codes keep 75 % of what the same network's float features reach at top-20: the rounding still loses
much. Two other ways to get bits, compared with it on the validation split
(``python -m clothlib.hashing compare-quantisers``):

- ``sign_ste``: a batch-normalised code layer (zero mean, unit variance per bit, so each bit splits the
  items about in half: bit balance) followed by ``sign()`` in the forward pass itself, trained through a
  straight-through gradient (the gradient of hardtanh: 1 inside [-1, 1], 0 outside; Courbariaux et al.
  2016). The pair loss then sees the very codes retrieval uses; there is nothing left to regularise.
- ``itq``: tanh units trained with no quantisation term (the pair loss shapes the float codes freely),
  then an orthogonal rotation learnt on the training split's outputs before the sign (ITQ, Gong &
  Lazebnik 2011: the rotation that moves the codes least when rounded to +-1). The rotation is a layer of
  the network, so encoding, retrieval and the pipeline use it without knowing.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..retrieval.baselines import ITQ

QUANTISERS = {
    "tanh": "tanh units + DSH's regulariser towards +-1 (the paper)",
    "sign_ste": "batch-normalised code layer, sign() in the forward pass, straight-through gradient",
    "itq": "tanh units, no quantisation term; an ITQ rotation learnt after training, before the sign",
}


class StraightThroughSign(nn.Module):
    """+-1 in the forward pass (0 goes to +1, as ``codes >= 0`` does when codes are packed); the
    gradient of hardtanh in the backward pass."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clipped = x.clamp(-1, 1)
        return clipped + (torch.where(x >= 0, 1.0, -1.0) - clipped).detach()


class Rotation(nn.Module):
    """``(h - centre) @ matrix``: the identity until :meth:`fit` learns ITQ's rotation (a buffer, so a
    released checkpoint carries it)."""

    def __init__(self, bits: int):
        super().__init__()
        self.register_buffer("centre", torch.zeros(bits))
        self.register_buffer("matrix", torch.eye(bits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.centre) @ self.matrix

    @torch.no_grad()
    def fit(self, codes: np.ndarray, seed: int = 0) -> Rotation:
        """Learn the rotation on un-rotated codes (training split): ITQ with its PCA kept at full rank,
        so projection x rotation is one orthogonal ``bits x bits`` matrix."""
        bits = self.matrix.shape[0]
        itq = ITQ(bits, seed=seed).fit(codes)
        self.centre.copy_(torch.from_numpy(itq.mean))
        self.matrix.copy_(torch.from_numpy(itq.projection @ itq.rotation))
        return self


def code_layer(quantiser: str, hidden: int, bits: int) -> nn.Sequential:
    """The hash layer ``quantiser`` names, from the trunk's ``hidden`` features to ``bits`` outputs."""
    if quantiser == "tanh":
        return nn.Sequential(nn.Linear(hidden, bits), nn.Tanh())
    if quantiser == "sign_ste":
        return nn.Sequential(nn.Linear(hidden, bits), nn.BatchNorm1d(bits), StraightThroughSign())
    if quantiser == "itq":
        return nn.Sequential(nn.Linear(hidden, bits), nn.Tanh(), Rotation(bits))
    raise ValueError(f"unknown quantiser {quantiser!r}; choose one of {tuple(QUANTISERS)}")
