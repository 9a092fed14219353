"""Loading parsing checkpoints, and the one rule for a missing one.

:func:`load_checkpoint` reads a released checkpoint (see :mod:`clothlib.parsing.training`) through
:func:`clothlib.harness.load_run`. :func:`load_or_train` loads the shipped one; if it is missing it
raises :class:`~clothlib.harness.MissingCheckpointError` naming the command that makes it, and
trains only when the caller opts in (``train_if_missing=True``), into a cache file named by the
config's digest, so a fast-mode run is never mistaken for a default-mode one.
"""
from __future__ import annotations

import os

import torch

from .. import harness
from ..config import settings
from .config import ParsingConfig
from .models import make_model
from .training import KIND, train

TRAIN_ALL = "bash checkpoints/train_parsing.sh"  # makes every shipped parsing file (checkpoints/README.md)


def _how_to_make(path: str | os.PathLike, model: str = "<model>") -> str:
    """The commands that make ``path``, as :mod:`clothlib.harness` quotes them in its error."""
    return (f"{TRAIN_ALL}` for the shipped checkpoints, "
            f"or `python -m clothlib.parsing train --model {model} --out {path}")


def load_checkpoint(path: str | os.PathLike) -> tuple[torch.nn.Module, ParsingConfig, dict]:
    """Model (eval mode, float32), its config and the whole checkpoint dict (plus its ``path``)."""
    return harness.load_run(path, KIND, ParsingConfig, lambda config, _: make_model(config, pretrained=False),
                            _how_to_make(path))


def load_or_train(config: ParsingConfig, name: str | None = None,
                  train_if_missing: bool = False) -> tuple[torch.nn.Module, ParsingConfig, dict]:
    """The shipped ``<checkpoints>/<name>.pt`` (``name`` defaults to the model's); if it is missing,
    an earlier opted-in training of this very ``config`` from the cache; else, only with
    ``train_if_missing``, train ``config`` into ``<cache>/checkpoints/<name>_<digest>.pt`` and load
    it. Without it a missing checkpoint is a MissingCheckpointError naming the command."""
    name = name or config.model
    shipped = settings.checkpoint_dir / f"{name}.pt"
    return harness.load_or_train(shipped, config, load=load_checkpoint, train=train,
                                 command=_how_to_make(shipped, config.model), train_if_missing=train_if_missing)
