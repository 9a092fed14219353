"""Results files: the one library module that writes them (besides the command lines that call it).

Evaluation functions return dicts; a command line decides to keep one and calls :func:`save_json`
(or :func:`save_arrays` for an export of arrays). Readers go through :func:`load_json` (and
:func:`load_arrays`), so a missing results file is always the same clear error naming the command
that writes it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from .io import atomic_write, sha256_file


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


ARRAY_SHA256 = "array_sha256"  # the key of an export's meta file that lists each array file's sha256


class CorruptExportError(ValueError):
    """An export's arrays do not match its meta file (damaged, or from an interrupted rewrite)."""


def save_arrays(folder: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict,
                meta_name: str = "export.json") -> Path:
    """Each array as ``<name>`` (``.npy``) in ``folder``, atomically, then ``meta`` as
    ``meta_name`` last, with the sha256 of every array file: its presence marks a whole export.

    An earlier export's meta file goes first, so a rewrite interrupted after some arrays leaves no
    meta file (an incomplete export) rather than the old meta over a mix of old and new arrays;
    :func:`load_arrays` checks each array against its checksum, so even a mix made by hand is caught."""
    folder = Path(folder)
    (folder / meta_name).unlink(missing_ok=True)
    digests = {}
    for name, array in arrays.items():
        with atomic_write(folder / name, "wb") as f:
            np.save(f, array)
        digests[name] = sha256_file(folder / name)
    save_json(folder / meta_name, {**meta, ARRAY_SHA256: digests})
    return folder


def load_arrays(folder: str | os.PathLike, command: str,
                meta_name: str = "export.json") -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, {name: array})`` of an export written by :func:`save_arrays`, each array checked
    against the sha256 its meta file records. A missing meta file or array is a
    :class:`MissingResultError`, a damaged or foreign array a :class:`CorruptExportError`; both name
    the file and ``command``, the command that writes the export again."""
    folder = Path(folder)
    meta_path = folder / meta_name
    if not meta_path.exists():
        raise MissingResultError(f"{folder} is not a complete export ({meta_name} missing: never written, or its "
                                 f"writing was interrupted). Write it with `{command}`.")
    try:
        meta = json.loads(meta_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptExportError(f"{meta_path} is damaged ({err}); write the export again with `{command}`.") from None
    digests = meta.pop(ARRAY_SHA256, None)
    if not isinstance(digests, dict):
        raise CorruptExportError(f"{meta_path} lists no array checksums (written before exports carried them): "
                                 f"write the export again with `{command}`.")
    arrays = {}
    for name, digest in digests.items():
        path = folder / name
        if not path.exists():
            raise MissingResultError(f"{path} is missing from the export; write it again with `{command}`.")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise CorruptExportError(f"{path} does not match its checksum in {meta_name} (damaged, or left by "
                                     f"another export's interrupted writing); write the export again with `{command}`.")
        arrays[name] = np.load(io.BytesIO(data))
    return meta, arrays
