"""One training loop for every model in the course (parsing and hashing alike).

Each epoch starts from ``seed + epoch`` (Python, NumPy, PyTorch and so the data order and the
augmentations), and the full training state is saved atomically after every epoch, so a run that
is interrupted and resumed ends with exactly the weights of an uninterrupted one. Every torch
file (state, released checkpoint) is read by :func:`load_state`, with ``weights_only=True``: a
file is data, never code that runs on loading. Batches go to the model's device
(:mod:`clothlib.devices`); released weights come back to the CPU.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from . import devices
from .config import progress_bar
from .foundation import __version__, set_seed
from .io import atomic_write

StepFn = Callable[[torch.nn.Module, object], tuple[torch.Tensor, dict]]


class CorruptCheckpointError(ValueError):
    """A torch file cannot be loaded as plain data; the message names the file and what remakes it."""


def save_state(path: str | os.PathLike, state: dict) -> Path:
    with atomic_write(path, "wb") as f:
        torch.save(state, f)
    return Path(path)


def load_state(path: str | os.PathLike, remake: str) -> dict:
    """The dict saved at ``path`` by :func:`save_state`, loaded with ``weights_only=True`` (tensors,
    numbers, strings and containers only), so a file carrying code (a pickled object whose reduction
    calls a function) is refused before anything runs. A file that is truncated, not a torch file or
    carries code is a :class:`CorruptCheckpointError` naming it and ``remake`` (what to do instead)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch reports a damaged file as RuntimeError, OSError, EOFError, UnpicklingError...
        if "Unsupported global" in str(err):
            why = ("it carries objects other than tensors and containers, which could run code on loading; "
                   "clothlib never loads those (weights_only=True)")
        else:
            why = f"it is damaged or not a torch file ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
        raise CorruptCheckpointError(f"{path} cannot be loaded: {why}. {remake}") from None
    if not isinstance(state, dict):
        raise CorruptCheckpointError(f"{path} holds a {type(state).__name__}, not a clothlib checkpoint. {remake}")
    return state


def fit(model: torch.nn.Module, optimizer: torch.optim.Optimizer, train_loader: Iterable, step: StepFn, *,
        epochs: int, state_path: str | os.PathLike, evaluate: Callable[[torch.nn.Module], dict] | None = None,
        scheduler=None, seed: int = 0, meta: dict | None = None, max_steps: int | None = None,
        desc: str = "train") -> list[dict]:
    """Train ``model`` for ``epochs``, resuming from ``state_path`` if it holds an earlier run.

    ``step(model, batch)`` returns the loss to minimise and a dict of numbers to average over the
    epoch; ``evaluate(model)`` returns validation metrics. ``max_steps`` caps batches per epoch
    (fast mode). A run whose epoch loss is not finite has diverged and stops there (its weights
    are NaN and cannot recover). Returns the history: one dict per epoch.
    """
    state_path = Path(state_path)
    device = devices.of(model)
    history: list[dict] = []
    start_epoch = 0
    if state_path.exists():
        state = load_state(state_path, "Delete it to train from the first epoch, or choose another --out.")
        if state.get("meta") != meta:
            raise ValueError(f"{state_path} was written by a run with another configuration or other data; "
                             "delete it or choose another --out to start afresh.")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        history, start_epoch = state["history"], state["epoch"]
        print(f"resuming {state_path} after epoch {start_epoch}")

    for epoch in range(start_epoch, epochs):
        if history and not math.isfinite(history[-1]["loss"]):
            print(f"diverged (loss {history[-1]['loss']}) after epoch {epoch}: stopping", flush=True)
            break
        set_seed(seed + epoch)
        model.train()
        sums: dict[str, float] = {}
        count = 0
        started = time.perf_counter()
        bar = progress_bar(train_loader, desc=f"{desc} {epoch + 1}/{epochs}", leave=False,
                   total=min(len(train_loader), max_steps) if max_steps else None)
        for index, batch in enumerate(bar):
            if max_steps is not None and index >= max_steps:
                break
            loss, numbers = step(model, devices.to_device(batch, device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            for key, value in {"loss": loss.item(), **numbers}.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            bar.set_postfix(loss=f"{sums['loss'] / count:.3f}")
        record = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - started, 3),
                  **{key: value / max(count, 1) for key, value in sums.items()},
                  "lr": optimizer.param_groups[0]["lr"]}
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                record.update(evaluate(model))
        history.append(record)
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()}, flush=True)
        save_state(state_path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                                "epoch": epoch + 1, "history": history, "meta": meta,
                                "clothlib": __version__})
    return history


def poly_schedule(optimizer: torch.optim.Optimizer, total_steps: int, power: float = 0.9):
    """FCN / DeepLab "poly" decay: lr * (1 - step / total) ** power, per optimisation step."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: max(0.0, 1 - step / max(1, total_steps)) ** power)


def release(out: str | os.PathLike, kind: str, model: torch.nn.Module, **fields) -> Path:
    """Write a small, self-describing checkpoint: fp16 weights, ``kind`` and ``fields`` (config,
    classes, curve...), so a notebook needs nothing else to use it."""
    weights = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    return save_state(out, {"kind": kind, "weights": weights, **fields, "clothlib": __version__})


def load_release(path: str | os.PathLike, kind: str, how_to_make: str) -> dict:
    """A checkpoint written by :func:`release` (weights back in float32, plus its ``path``);
    ``how_to_make`` is the command named when the file is missing."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found. Make it with `{how_to_make}`.")
    checkpoint = load_state(path, f"Make it again with `{how_to_make}` (a shipped one: `git checkout -- {path.name}` "
                                  "in the checkpoints folder).")
    if checkpoint.get("kind") != kind:
        raise ValueError(f"{path} is a {checkpoint.get('kind')!r} checkpoint, not a {kind!r} one")
    checkpoint["weights"] = {k: v.float() if v.is_floating_point() else v for k, v in checkpoint["weights"].items()}
    checkpoint["path"] = path
    return checkpoint
