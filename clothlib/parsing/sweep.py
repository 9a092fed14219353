"""The learning-rate sweep of paper Tables 1-2, translated from Caffe to a pixel-mean loss.

Caffe's FCN sums the loss over every pixel of a batch (``normalize: false``), so its gradient is
``pixels_per_batch`` times the gradient of the mean loss used here. SGD with rate ``r`` on the
summed loss therefore takes the same steps as SGD with rate ``r * pixels_per_batch`` on the mean
loss: the paper's tiny rates (1e-5 ... 1e-9) are ordinary rates in disguise.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path

from ..io import atomic_write
from .train import ParsingConfig, train

CAFFE_RATES = (1e-5, 1e-6, 1e-7, 1e-8, 1e-9)  # the paper's sweep


def pixels_per_batch(config: ParsingConfig) -> int:
    return config.batch_size * config.crop[0] * config.crop[1]


def mean_loss_rate(caffe_rate: float, config: ParsingConfig) -> float:
    """The rate on a pixel-mean loss that takes the same SGD steps as ``caffe_rate`` on a summed loss."""
    return caffe_rate * pixels_per_batch(config)


def _finished_runs(out: Path, base: ParsingConfig) -> list[dict]:
    """Rows already in ``out`` from the same base configuration (none if it differs or is absent)."""
    previous = json.loads(out.read_text()) if out.exists() else {}
    same = previous.get("config") == json.loads(json.dumps(dataclasses.asdict(base)))
    return previous.get("runs", []) if same else []


def lr_sweep(models: list[str], base: ParsingConfig, out: str | os.PathLike,
             caffe_rates: tuple[float, ...] = CAFFE_RATES, progress: bool = False) -> list[dict]:
    """Train each model at each rate with ``base``'s (reduced) settings; record validation metrics
    of the last epoch in ``out`` (JSON), one row per run, rewritten after every run. Rows already in
    ``out`` from the same base configuration are kept, so an interrupted sweep picks up where it was,
    and the file is re-read before each write, so one sweep per model can run in parallel (one core
    each) into the same file."""
    out = Path(out)
    done = {(row["model"], row["caffe_lr"]) for row in _finished_runs(out, base)}
    with tempfile.TemporaryDirectory() as scratch:
        for model in models:
            for caffe_rate in caffe_rates:
                if (model, caffe_rate) in done:
                    continue
                config = dataclasses.replace(base, model=model, lr=mean_loss_rate(caffe_rate, base))
                path = Path(scratch) / f"{model}-{caffe_rate:g}.pt"
                train(config, path, progress=progress)
                last = json.loads(path.with_suffix(".curve.json").read_text())[-1]
                row = {"model": model, "caffe_lr": caffe_rate, "lr": config.lr,
                       "diverged": not math.isfinite(last["loss"]),
                       **{k: last[k] for k in ("loss", "val_overall_acc", "val_mean_acc", "val_mean_iu")}}
                rows = [r for r in _finished_runs(out, base) if (r["model"], r["caffe_lr"]) != (model, caffe_rate)]
                rows.append(row)
                rows.sort(key=lambda r: (r["model"], -r["caffe_lr"]))
                with atomic_write(out) as f:
                    json.dump({"config": dataclasses.asdict(base), "pixels_per_batch": pixels_per_batch(base),
                               "runs": rows}, f, indent=1)
    return [r for r in _finished_runs(out, base) if r["model"] in models]


def best_rate(runs: list[dict], models: tuple[str, ...] = ("net1", "net2")) -> float:
    """The rate (on the mean loss) with the highest validation mean IU averaged over ``models``,
    among rates where none of them diverged. One rate for net1 and net2 keeps net2 - net1 the effect
    of dropout alone (the paper's best rate was the same for both), and averaging two models halves
    the noise of a 100-photo validation split."""
    scores: dict[float, list] = {}
    for run in runs:
        if run["model"] in models:
            scores.setdefault(run["lr"], []).append(None if run["diverged"] else run["val_mean_iu"])
    usable = {lr: s for lr, s in scores.items() if len(s) == len(models) and None not in s}
    if not usable:
        raise ValueError(f"no rate trained all of {models} without diverging; run the sweep first")
    return max(usable, key=lambda lr: sum(usable[lr]) / len(models))
