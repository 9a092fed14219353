"""clothlib: clothing parsing and hashing retrieval, reproduced on a CPU.

The course notebooks call this package; every reusable piece of the pipeline lives in its modules.
This root sits on top of them and only re-exports what a notebook's first cells use
(``clothlib.require``, ``set_seed``, ``settings``, ``check_environment``, ``ClothingRetriever``);
nothing inside clothlib imports it (``tests/test_layout.py``).
"""
from __future__ import annotations

from .config import Settings, settings
from .env import check_environment
from .foundation import __version__, require, set_seed

__all__ = ["__version__", "ClothingRetriever", "check_environment", "require", "set_seed", "settings", "Settings"]


def __getattr__(name: str):
    """``clothlib.ClothingRetriever`` without importing torch when ``import clothlib`` runs."""
    if name == "ClothingRetriever":
        from .pipeline import ClothingRetriever

        return ClothingRetriever
    raise AttributeError(f"module 'clothlib' has no attribute {name!r}")
