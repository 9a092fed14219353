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

Each is a :class:`Quantiser` (the layer it builds, its codes and relaxed output, its regulariser weight,
its post-training fit), and :data:`KINDS` is the one registry from the config's string (``"tanh"``,
``"sign_ste"``, ``"itq"``, what every checkpoint stores) to its class: :func:`quantiser_for` looks it up.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ..retrieval.baselines import ITQ


class StraightThroughSign(nn.Module):
    """+-1 in the forward pass (0 goes to +1, as :func:`~clothlib.retrieval.binarize` sets a bit at 0);
    the gradient of hardtanh in the backward pass."""

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


class Quantiser(ABC):
    """One way of making bits from the trunk's features. The network holds the hash layer this builds
    (a ``Sequential``: the shipped checkpoints name its weights ``hash.<i>.*``) and asks the quantiser
    what of that layer's output is the code and what the relaxed output, so no caller tests its kind."""

    name: ClassVar[str]         # the config's string (HashingConfig.quantiser, stored in every checkpoint)
    description: ClassVar[str]  # one line, for the command line and the comparison's rows
    fits: ClassVar[bool] = False  # whether :meth:`fit` has a step to learn after training

    @abstractmethod
    def layer(self, hidden: int, bits: int) -> nn.Sequential:
        """The hash layer, from the trunk's ``hidden`` features to ``bits`` outputs."""

    def outputs(self, layer: nn.Sequential, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(codes, relaxed)`` of the trunk's ``features``: what the pair loss sees, and the same
        before any sign (what asymmetric re-ranking compares). Here the layer's output is both."""
        codes = layer(features)
        return codes, codes

    def regulariser_weight(self, alpha: float) -> float:
        """The weight of DSH's term drawing the codes towards +-1 (``alpha`` is the config's)."""
        return 0.0

    def fit(self, layer: nn.Sequential, features: torch.Tensor, seed: int = 0) -> None:
        """Learn what comes after training from the training split's trunk ``features`` (kinds whose
        :attr:`fits` is set; calling it on another is a mistake the error names)."""
        raise TypeError(f"the {self.name!r} quantiser learns nothing after training")


class TanhQuantiser(Quantiser):
    name = "tanh"
    description = "tanh units + DSH's regulariser towards +-1 (the paper)"

    def layer(self, hidden: int, bits: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(hidden, bits), nn.Tanh())

    def regulariser_weight(self, alpha: float) -> float:
        return alpha


class SignSTEQuantiser(Quantiser):
    name = "sign_ste"
    description = "batch-normalised code layer, sign() in the forward pass, straight-through gradient"

    def layer(self, hidden: int, bits: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(hidden, bits), nn.BatchNorm1d(bits), StraightThroughSign())

    def outputs(self, layer: nn.Sequential, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The codes are +-1 already; the relaxed output is the batch-normalised one, clipped to [-1, 1]."""
        before = layer[:-1](features)
        return layer[-1](before), before.clamp(-1, 1)


class ITQQuantiser(Quantiser):
    name = "itq"
    description = "tanh units, no quantisation term; an ITQ rotation learnt after training, before the sign"
    fits = True

    def layer(self, hidden: int, bits: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(hidden, bits), nn.Tanh(), Rotation(bits))

    @torch.no_grad()
    def fit(self, layer: nn.Sequential, features: torch.Tensor, seed: int = 0) -> None:
        """The rotation, learnt on the un-rotated codes of ``features``."""
        layer[-1].fit(layer[:-1](features).cpu().numpy().astype(np.float64), seed)


KINDS: dict[str, type[Quantiser]] = {kind.name: kind for kind in (TanhQuantiser, SignSTEQuantiser, ITQQuantiser)}
QUANTISERS = {name: kind.description for name, kind in KINDS.items()}  # the choices, described


def quantiser_for(name: str) -> Quantiser:
    """The quantiser a config's string names; an unknown one is an error listing the known ones."""
    if name not in KINDS:
        raise ValueError(f"unknown quantiser {name!r}; choose one of {tuple(KINDS)}")
    return KINDS[name]()
