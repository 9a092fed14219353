"""What every layer may need and nothing in clothlib provides below it: the version, a seed for every
random generator, and the notebooks' version check.

It imports nothing from clothlib, so the engine, the stages and the builder take the version and the
seed from here rather than from the package root, which sits on top and only re-exports.
"""
from __future__ import annotations

import os
import random

__version__ = "0.1.0"


def require(version: str) -> str:
    """Check that the installed clothlib matches what a notebook was written for.

    ``version`` is a ``"MAJOR.MINOR"`` prefix; a mismatch raises with the command that fixes it.
    """
    want = version.split(".")
    have = __version__.split(".")
    if have[: len(want)] != want:
        raise RuntimeError(
            f"This notebook expects clothlib {version}.x but clothlib {__version__} is installed "
            f"(from {os.path.dirname(__file__)}). From the repository root run `pip install -e .` "
            "(or `make course`), then restart the kernel."
        )
    return __version__


def set_seed(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so runs repeat exactly."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:
        return seed
    torch.manual_seed(seed)
    return seed
