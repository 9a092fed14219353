"""clothlib: clothing parsing and hashing retrieval, reproduced on a CPU.

The course notebooks call this package; every reusable piece of the pipeline lives here.
"""
from __future__ import annotations

__version__ = "0.1.0"

import os
import random

from .config import Settings, settings
from .env import check_environment

__all__ = ["__version__", "ClothingRetriever", "check_environment", "require", "set_seed", "settings", "Settings"]


def __getattr__(name: str):
    """``clothlib.ClothingRetriever`` without importing torch when ``import clothlib`` runs."""
    if name == "ClothingRetriever":
        from .pipeline import ClothingRetriever

        return ClothingRetriever
    raise AttributeError(f"module 'clothlib' has no attribute {name!r}")


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
