"""The run harness every trained stage shares (parsing and hashing alike).

A *run* is a frozen config (a :class:`RunConfig`), a model, a loader, an optimiser with the poly
schedule, a validation function and :func:`clothlib.engine.fit`. This module holds what does not
depend on the stage: building a config from a dict (a checkpoint, the command line), the config's
digest, where a run keeps its resumable state and curve, training a run into a released
checkpoint, loading it back, and the one rule for a missing checkpoint: a clear error naming the
command that makes it, and training only when the caller asks for it (``train_if_missing=True``),
into a cache file named by the config's digest and the key of the data it trains on, so runs of
different sizes (fast and default mode), or of one config on two builds of its data, never share a
file; a run's resumable state is keyed the same way.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from . import devices
from .config import settings
from .engine import StepFn, fit, load_release, poly_schedule, release
from .results import beside, save_json


@dataclass(frozen=True)
class RunConfig:
    """Base of every run's config. Subclasses are frozen dataclasses with ``epochs`` and ``seed``."""

    @classmethod
    def from_dict(cls, values: dict):
        """The config ``values`` describe (JSON lists back to tuples); unknown keys are ignored, so a
        checkpoint written before a field was added still loads with that field's default."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Ten hex digits of the sha256 of the config: equal configs, equal digests."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


class MissingCheckpointError(FileNotFoundError):
    """A checkpoint the caller needs is absent; the message names the command that makes it."""


def state_path(out: str | os.PathLike) -> Path:
    """Where a run writing ``out`` keeps its resumable state (``<out>.state.pt``)."""
    return Path(out).with_suffix(".state.pt")


def curve_path(checkpoint: str | os.PathLike) -> Path:
    """The training curve written beside a released checkpoint (``<stem>.curve.json``)."""
    return beside("curve", checkpoint)


def cached_run_path(name: str, config: RunConfig, data: dict | None = None) -> Path:
    """Where an opted-in training of ``config`` on ``data`` (the build key of the data it trains on,
    None for a fixed dataset) goes: ``<cache>/checkpoints/<name>_<digest>.pt``; with ``data`` the
    digest covers it too, so a rebuilt set never serves a run trained on the old one."""
    if data is None:
        return settings.cache_dir / "checkpoints" / f"{name}_{config.digest()}.pt"
    both = hashlib.sha256(json.dumps([config.to_dict(), data], sort_keys=True).encode()).hexdigest()[:10]
    return settings.cache_dir / "checkpoints" / f"{name}_{both}.pt"


def train_run(config: RunConfig, out: str | os.PathLike, *, kind: str, model: torch.nn.Module,
              loader: Iterable, optimizer: torch.optim.Optimizer, step: StepFn,
              validate: Callable[[torch.nn.Module], dict] | None, desc: str,
              finish: Callable[[torch.nn.Module], None] | None = None, data: dict | None = None,
              **fields) -> Path:
    """Train ``model`` for ``config.epochs`` with the poly schedule (resuming from
    :func:`state_path` only a run of this config on this ``data``: the build key of what it trains
    on, None for a fixed dataset), then release it to ``out`` with its config, curve and ``fields``.
    ``finish(model)``, if given, runs between the last epoch and the release: a step fitted after
    training (hashing's ITQ rotation), recomputed from the trained weights whenever a run completes."""
    out = Path(out)
    history = fit(model, optimizer, loader, step, epochs=config.epochs, state_path=state_path(out),
                  evaluate=validate, scheduler=poly_schedule(optimizer, config.epochs * len(loader)),
                  seed=config.seed, meta={"config": config.to_dict(), "data": data}, desc=desc)
    if finish is not None:
        finish(model)
    release(out, kind, model, config=config.to_dict(), history=history, **fields)
    save_json(curve_path(out), history)
    return out


def load_run(path: str | os.PathLike, kind: str, config_class: type[RunConfig],
             build: Callable[[RunConfig, dict], torch.nn.Module], command: str):
    """Model (eval mode, float32, on the settings' device), config and the whole checkpoint dict (plus
    its ``path``) of a released ``kind`` checkpoint; ``build(config, checkpoint)`` makes the untrained model."""
    try:
        checkpoint = load_release(path, kind, command)
    except FileNotFoundError as err:
        raise MissingCheckpointError(str(err)) from None
    config = config_class.from_dict(checkpoint["config"])
    model = build(config, checkpoint)
    model.load_state_dict(checkpoint["weights"])
    return model.to(devices.current()).eval(), config, checkpoint


def load_or_train(shipped: Path, config: RunConfig, *, load: Callable, train: Callable, command: str,
                  train_if_missing: bool = False, data: Callable[[], dict] | None = None):
    """``load(shipped)``; else an earlier opted-in run of this very config (on the data whose build
    key ``data()`` returns, if given) from the cache; else, only with ``train_if_missing``,
    ``train(config, cache file)`` and load that. Without it a missing checkpoint is a
    :class:`MissingCheckpointError` naming ``command``, never a silent multi-hour training."""
    if shipped.exists():
        return load(shipped)
    try:
        cached = cached_run_path(shipped.stem, config, data() if data is not None else None)
    except FileNotFoundError:  # no data to train on either, so no cached run of it
        if train_if_missing:
            raise
        cached = None
    if cached is None or not cached.exists():
        if not train_if_missing:
            raise MissingCheckpointError(
                f"{shipped} not found. Make it with `{command}`, or restore it with `git checkout -- "
                f"{shipped.name}` in the checkpoints folder (CLOTHLIB_CHECKPOINTS={settings.checkpoint_dir}); "
                f"or pass train_if_missing=True to train this config ({config.epochs} epochs) into "
                f"{cached or settings.cache_dir / 'checkpoints'}.")
        print(f"{shipped} not found: training {config.epochs} epochs into {cached}", flush=True)
        train(config, cached)
    return load(cached)
