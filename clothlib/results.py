"""Results files: the one library module that writes them (besides the command lines that call it).

Evaluation functions return dicts; a command line decides to keep one and calls :func:`save_json`
(or :func:`save_arrays` for an export of arrays). Readers go through :func:`load_json`, so a
missing results file is always the same clear error naming the command that writes it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .io import atomic_write


class MissingResultError(FileNotFoundError):
    """A results file is absent; the message names the command that writes it."""


def metrics_path(checkpoint: str | os.PathLike, split: str, kind: str = "metrics") -> Path:
    """``<checkpoint stem>.<split>.<kind>.json`` beside the checkpoint (``kind``: ``metrics``,
    ``crf.metrics``, ``retrieval``, ``tta``)."""
    return Path(checkpoint).with_suffix(f".{split}.{kind}.json")


def save_json(path: str | os.PathLike, result: dict | list) -> Path:
    """Write ``result`` as indented JSON, atomically (complete or absent)."""
    with atomic_write(path) as f:
        json.dump(result, f, indent=1)
    return Path(path)


def load_json(path: str | os.PathLike, command: str):
    """The JSON at ``path``; :class:`MissingResultError` naming ``command`` if there is none."""
    path = Path(path)
    if not path.exists():
        raise MissingResultError(f"{path} not found. Write it with `{command}`.")
    return json.loads(path.read_text())


def save_arrays(folder: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict,
                meta_name: str = "export.json") -> Path:
    """Each array as ``<name>`` (``.npy``) in ``folder``, atomically, then ``meta`` as
    ``meta_name`` last: its presence marks a whole export."""
    folder = Path(folder)
    for name, array in arrays.items():
        with atomic_write(folder / name, "wb") as f:
            np.save(f, array)
    save_json(folder / meta_name, meta)
    return folder
