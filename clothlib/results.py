"""Results files: the one table of them (the artifact registry) and the one library module that writes
them (besides the command lines that call it).

Each results file the course writes or reads is an :class:`Artifact` of :data:`ARTIFACTS`: its name
pattern, where it lives, the command that writes it. Code builds a name with :func:`artifact_path`
and reads one with :func:`load_artifact`, never by spelling the name out (``tests/test_results.py``
greps for such names outside this module), so adding a results file is one row here.

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
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import REPO_DIR, settings
from .io import atomic_write, sha256_file

PARSING_SCRIPT = "bash checkpoints/train_parsing.sh"  # makes every shipped parsing checkpoint and results file
HASHING_SCRIPT = "bash checkpoints/train_hashing.sh"  # the same for hashing and retrieval
LEVERS_SCRIPT = "bash checkpoints/parsing_levers.sh"


class MissingResultError(FileNotFoundError):
    """A results file is absent; the message names the command that writes it."""


@dataclass(frozen=True)
class Artifact:
    """One kind of results file. ``pattern`` and ``command`` are :meth:`str.format` templates over the
    same fields (``stem``: a checkpoint's name without ``.pt``; ``split``; ``benchmark``); ``home``
    is the folder it lives in by default: ``"checkpoints"`` (``settings.checkpoint_dir``), a folder of
    the repository, or ``None`` where the caller always says (an export's folder)."""

    key: str
    pattern: str
    command: str
    description: str
    home: str | None = "checkpoints"

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields ``pattern`` and ``command`` need."""
        return tuple(sorted({name for text in (self.pattern, self.command)
                             for _, name, _, _ in string.Formatter().parse(text) if name}))


_PARSE = "python -m clothlib.parsing {} --checkpoint checkpoints/{{stem}}.pt"
ARTIFACTS: dict[str, Artifact] = {a.key: a for a in (
    # parsing, beside the checkpoint
    Artifact("parsing_metrics", "{stem}.{split}.metrics.json", _PARSE.format("evaluate") + " --split {split}",
             "a parsing checkpoint's metrics over a whole split, per photo too"),
    Artifact("crf_metrics", "{stem}.{split}.crf.metrics.json", _PARSE.format("crf-eval") + " --split {split}",
             "FCN and FCN + CRF metrics over a whole split, the CRF at the tuned kernel"),
    Artifact("tta", "{stem}.{split}.tta.json", _PARSE.format("tta") + " --split {split}",
             "test-time augmentations: metrics and time per photo"),
    Artifact("crf_search", "{stem}.crf.json", _PARSE.format("crf-search"),
             "the CRF kernel search on the validation split; its best setting is the tuned CRF"),
    Artifact("eval_height", "{stem}.eval_height.json", _PARSE.format("tune-height"),
             "the inference-height search on the validation split"),
    Artifact("curve", "{stem}.curve.json", "the training that released {stem}.pt (python -m clothlib.parsing train, "
             "python -m clothlib.hashing train)", "a released checkpoint's training curve, written beside it"),
    Artifact("parsing_curve", "{stem}.curve.json", PARSING_SCRIPT,
             "a shipped parsing checkpoint's training curve (written by training, beside the checkpoint)"),
    Artifact("lr_sweep", "lr_sweep.json", PARSING_SCRIPT, "paper Tables 1-2: the translated Caffe learning rates"),
    Artifact("lever_metrics", "levers/{stem}.{split}.metrics.json", LEVERS_SCRIPT,
             "a fine-tuned variant of the shipped parser: its metrics"),
    Artifact("lever_curve", "levers/{stem}.curve.json", LEVERS_SCRIPT,
             "a fine-tuned variant of the shipped parser: its training curve"),
    # hashing and retrieval, beside the checkpoint
    Artifact("hashing_metrics", "{stem}.{split}.metrics.json", HASHING_SCRIPT,
             "a hashing checkpoint's task accuracies and top-k (python -m clothlib.hashing evaluate)"),
    Artifact("hashing_items", "{stem}.{split}.items.json", HASHING_SCRIPT,
             "the per-item records of the same evaluation: each item's codes and predicted values"),
    Artifact("hashing_curve", "{stem}.curve.json", HASHING_SCRIPT,
             "a shipped hashing checkpoint's (or the tuned backbone's) training curve"),
    Artifact("retrieval", "{stem}.{split}.retrieval.json", HASHING_SCRIPT,
             "retrieval scores of a network's codes and features (python -m clothlib.retrieval evaluate)"),
    Artifact("quantisers", "{stem}.quantisers.{split}.json",
             "python -m clothlib.hashing compare-quantisers --model MODEL --bits BITS --backbone BACKBONE",
             "each quantiser trained on one config, saved beside that config's shipped checkpoint"),
    Artifact("ablation", "{stem}.ablation.{split}.json",
             "python -m clothlib.hashing ablation --model MODEL --bits BITS",
             "what each change to the paper's network bought, beside the shipped checkpoint"),
    Artifact("retrieval_baselines", "retrieval_baselines.json", HASHING_SCRIPT,
             "untrained baselines: raw backbone features, LSH and ITQ codes"),
    Artifact("end_to_end", "end_to_end.{split}.json",
             "python -m clothlib.endtoend --out checkpoints/end_to_end.{split}.json",
             "queries cut by the parser (FCN, FCN + CRF) instead of the ground-truth box"),
    # an encode export's folder (data/cache/codes/...)
    Artifact("export", "export.json", "python -m clothlib.hashing encode --checkpoint CHECKPOINT --split SPLIT",
             "an export's metadata, written last: its presence marks a whole export", home=None),
    Artifact("export_retrieval", "retrieval.json", "python -m clothlib.retrieval evaluate --codes DIR",
             "retrieval scores of an export, inside its folder unless --out says otherwise", home=None),
    # benchmarks
    Artifact("benchmark", "{benchmark}.json", "python benchmarks/{benchmark}.py",
             "a benchmark's measurements (course_budget, crf_speed, two_stage_speed, ...)",
             home="benchmarks/results"),
)}


def _artifact(key: str) -> Artifact:
    if key not in ARTIFACTS:
        raise KeyError(f"no results file {key!r}; the registry has {', '.join(ARTIFACTS)}")
    return ARTIFACTS[key]


def _fill(artifact: Artifact, fields: dict) -> None:
    missing = [name for name in artifact.fields if name not in fields]
    if missing:
        raise TypeError(f"results file {artifact.key!r} ({artifact.pattern}) needs {', '.join(missing)}")


def artifact_name(key: str, **fields) -> str:
    """The file name of artifact ``key`` (relative to its folder), e.g. ``net1.test.metrics.json``."""
    artifact = _artifact(key)
    _fill(artifact, fields)
    return artifact.pattern.format(**fields)


def artifact_command(key: str, **fields) -> str:
    """The command that writes artifact ``key`` with these fields."""
    artifact = _artifact(key)
    _fill(artifact, fields)
    return artifact.command.format(**fields)


def artifact_home(key: str) -> Path:
    """The folder artifact ``key`` lives in by default (``settings.checkpoint_dir`` read at call time)."""
    home = _artifact(key).home
    if home is None:
        raise TypeError(f"results file {key!r} has no default folder: pass folder=")
    return settings.checkpoint_dir if home == "checkpoints" else REPO_DIR / home


def artifact_path(key: str, folder: str | os.PathLike | None = None, **fields) -> Path:
    """Where artifact ``key`` is: its name in ``folder``, else in its default folder."""
    return (Path(folder) if folder is not None else artifact_home(key)) / artifact_name(key, **fields)


def beside(key: str, checkpoint: str | os.PathLike, **fields) -> Path:
    """Artifact ``key`` of ``checkpoint`` (``stem`` from its name), in the checkpoint's folder."""
    checkpoint = Path(checkpoint)
    return artifact_path(key, checkpoint.parent, stem=checkpoint.stem, **fields)


def shown(key: str, **fields) -> str:
    """The artifact as the documents name it, from the repository's root: ``checkpoints/net1.crf.json``."""
    home = _artifact(key).home
    return f"{home}/{artifact_name(key, **fields)}" if home else artifact_name(key, **fields)


def companion(path: str | os.PathLike, key: str, of: str) -> Path:
    """The ``key`` artifact that goes with the ``of`` artifact at ``path`` (same stem and split, same
    folder): a metrics file's per-item records. A name that is not an ``of`` artifact's keeps its stem."""
    path = Path(path)
    tail, new = (ARTIFACTS[k].pattern.rsplit("}", 1)[-1] for k in (of, key))
    stem = path.name[:-len(tail)] if path.name.endswith(tail) else path.stem
    return path.with_name(stem + new)


def load_artifact(key: str, folder: str | os.PathLike | None = None, **fields):
    """The JSON of artifact ``key`` (see :func:`artifact_path`); :class:`MissingResultError` naming
    the command that writes it if there is none."""
    return load_json(artifact_path(key, folder, **fields), artifact_command(key, **fields))


def metrics_path(checkpoint: str | os.PathLike, split: str, kind: str = "metrics") -> Path:
    """``<checkpoint stem>.<split>.<kind>.json`` beside the checkpoint (``kind``: ``metrics``,
    ``crf.metrics``, ``retrieval``, ``tta``, ``items``)."""
    key = {"metrics": "parsing_metrics", "crf.metrics": "crf_metrics", "retrieval": "retrieval", "tta": "tta",
           "items": "hashing_items"}[kind]
    return beside(key, checkpoint, split=split)


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
                meta_name: str = ARTIFACTS["export"].pattern) -> Path:
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
                meta_name: str = ARTIFACTS["export"].pattern) -> tuple[dict, dict[str, np.ndarray]]:
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
