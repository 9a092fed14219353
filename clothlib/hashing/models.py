"""The four hashing networks of the paper, composed from one trunk and optional heads.

All four share a trunk (fully connected, on the frozen backbone's features) and a hash layer of
``bits`` tanh units; they differ only in which task heads sit on the trunk:

- ``simnet``: no heads, the pairwise similarity loss only;
- ``catt_net``: + a category head and one head per attribute group;
- ``catt2_net``: the attribute heads see the predicted category (its softmax) beside the trunk
  features, since some attribute values exist only for some categories;
- ``catt3_net``: catt2_net + the fine-grained category task.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.attributes import ATTRIBUTE_VALUES, NA
from ..retrieval.codes import binarize, pack_codes
from .quantisers import quantiser_for

BITS = (16, 32, 48, 64)
CATEGORY_TASK = "category"
FINE_TASK = "fine_category"
ATTRIBUTE_TASKS = tuple(name for name in ATTRIBUTE_VALUES if name not in (CATEGORY_TASK, FINE_TASK))


@dataclass(frozen=True)
class Variant:
    """Which heads a network has."""

    category: bool
    attributes: bool
    condition_on_category: bool
    fine_category: bool


VARIANTS = {
    "simnet": Variant(category=False, attributes=False, condition_on_category=False, fine_category=False),
    "catt_net": Variant(category=True, attributes=True, condition_on_category=False, fine_category=False),
    "catt2_net": Variant(category=True, attributes=True, condition_on_category=True, fine_category=False),
    "catt3_net": Variant(category=True, attributes=True, condition_on_category=True, fine_category=True),
}


def task_values(task: str) -> tuple[str, ...]:
    """The values a head predicts: the attribute table's, without "n/a" (n/a targets are ignored)."""
    return tuple(value for value in ATTRIBUTE_VALUES[task] if value != NA)


def variant_tasks(variant: Variant) -> list[str]:
    """The classification tasks of a variant, category first."""
    tasks = [CATEGORY_TASK] if variant.category else []
    tasks += list(ATTRIBUTE_TASKS) if variant.attributes else []
    tasks += [FINE_TASK] if variant.fine_category else []
    return tasks


class HashingNet(nn.Module):
    """trunk -> (hash layer, task heads). ``forward`` returns the hash layer's output (``codes``: in
    (-1, 1) for the paper's tanh quantiser, +-1 already for ``sign_ste``; see
    :mod:`~clothlib.hashing.quantisers`), the same before any sign (``relaxed``: for ``sign_ste`` its
    batch-normalised outputs clipped to [-1, 1], what asymmetric re-ranking compares; for the others the
    codes themselves), the trunk's float features and the logits of every task. Which is which is the
    quantiser's to say (``self.quantiser``, looked up from the config's string); :meth:`codes` gives the
    packed bits retrieval searches."""

    def __init__(self, model: str, in_features: int, bits: int, hidden: int = 512, dropout: float = 0.2,
                 quantiser: str = "tanh"):
        super().__init__()
        if model not in VARIANTS:
            raise ValueError(f"unknown hashing model {model!r}; choose one of {tuple(VARIANTS)}")
        self.variant = VARIANTS[model]
        self.trunk = nn.Sequential(nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                                   nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden),
                                   nn.ReLU(inplace=True))
        self.quantiser = quantiser_for(quantiser)
        self.hash = self.quantiser.layer(hidden, bits)
        self.tasks = variant_tasks(self.variant)
        categories = len(task_values(CATEGORY_TASK))
        extra = categories if self.variant.condition_on_category else 0
        self.heads = nn.ModuleDict({
            task: nn.Linear(hidden + (0 if task == CATEGORY_TASK else extra), len(task_values(task)))
            for task in self.tasks})

    def forward(self, x: torch.Tensor) -> dict:
        features = self.trunk(x)
        logits = {}
        if self.variant.category:
            logits[CATEGORY_TASK] = self.heads[CATEGORY_TASK](features)
        conditioned = features
        if self.variant.condition_on_category:
            conditioned = torch.cat([features, logits[CATEGORY_TASK].softmax(1)], 1)
        for task in self.tasks[1:]:
            logits[task] = self.heads[task](conditioned)
        codes, relaxed = self.quantiser.outputs(self.hash, features)
        return {"codes": codes, "relaxed": relaxed, "features": features, "logits": logits}

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> np.ndarray:
        """The packed codes of inputs ``x`` (one uint8 row each, :func:`~clothlib.retrieval.pack_codes`),
        computed in eval mode on the module's device whatever its mode: the bits retrieval searches, each
        the sign of the hash layer's output by :func:`~clothlib.retrieval.binarize`'s rule (0 sets the bit),
        whatever the quantiser."""
        training = self.training
        try:
            return pack_codes(binarize(self.eval()(x.to(self.hash[0].weight.device))["codes"].cpu().numpy()))
        finally:
            self.train(training)


def build_model(config, in_features: int) -> HashingNet:
    """The untrained network a :class:`~clothlib.hashing.config.HashingConfig` describes, on features
    of length ``in_features`` (training builds it; a checkpoint's weights are loaded into it)."""
    return HashingNet(config.model, in_features, config.bits, config.hidden, config.dropout, config.quantiser)
