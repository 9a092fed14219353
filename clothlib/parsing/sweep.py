"""The learning-rate sweep of paper Tables 1-2, translated from Caffe to a pixel-mean loss.

Caffe's FCN sums the loss over every pixel and, with ``normalize: false``, divides the sum by the
batch size: in Caffe's ``SoftmaxWithLossLayer::LayerSetUp`` (src/caffe/layers/softmax_loss_layer.cpp)
an unset ``normalization`` becomes ``normalize ? VALID : BATCH_SIZE``, and ``LossLayer::GetNormalizer``
(src/caffe/layers/loss_layer.cpp) returns ``outer_num_``, the batch size, for ``BATCH_SIZE``. So
Caffe's loss is the per-image pixel sum averaged over the batch, and its gradient is
``pixels_per_image`` (crop height x width, not the batch's pixels) times the gradient of the pixel-mean
loss used here. SGD with rate ``r`` on Caffe's loss therefore takes the same steps as SGD with rate
``r * pixels_per_image`` on the mean loss: the paper's tiny rates (1e-5 ... 1e-9) are ordinary rates
in disguise.

:func:`lr_sweep` trains and yields one row per run, writing nothing but each run's scratch
checkpoint. ``python -m clothlib.parsing sweep`` keeps the rows in one JSON file: it skips runs the
file already holds (an interrupted sweep picks up where it was) and re-reads the file before each
write (:func:`merge_run`), so one sweep per model can run in parallel, one core each, into one file.
"""
from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..data.classes import NUM_CLASSES
from ..harness import curve_path
from .config import ParsingConfig
from .training import train

CAFFE_RATES = (1e-5, 1e-6, 1e-7, 1e-8, 1e-9)  # the paper's sweep
TRANSLATION = "per_image"  # which pixel count multiplies a Caffe rate; a file made with another is stale


def pixels_per_image(config: ParsingConfig) -> int:
    """Pixels of one training crop: the factor between Caffe's batch-size-normalised summed loss and the mean loss."""
    return config.crop[0] * config.crop[1]


def mean_loss_rate(caffe_rate: float, config: ParsingConfig) -> float:
    """The rate on a pixel-mean loss that takes the same SGD steps as ``caffe_rate`` on Caffe's loss
    (pixel sum divided by the batch size)."""
    return caffe_rate * pixels_per_image(config)


def predicts_one_class(mean_acc: float) -> bool:
    """Whether a run's mean class accuracy (%) is that of a network predicting one class everywhere:
    100 % on that class, 0 on the others, so 100 / (number of classes). On CCP that class is the
    background (it wins by far the most pixels), so such a run has learnt nothing but the prior.
    The tolerance covers the 3 decimals the metrics are rounded to."""
    return abs(mean_acc - 100 / NUM_CLASSES) < 0.01


def finished_runs(sweep: dict | None, base: ParsingConfig) -> list[dict]:
    """The rows of a sweep file's contents that come from the same base configuration and the same
    translation of Caffe rates (none if either differs or there is no file yet)."""
    sweep = sweep or {}
    # compared as configs, not dicts: a file written before a field was added holds that field's default
    same = ("config" in sweep and ParsingConfig.from_dict(sweep["config"]) == base
            and sweep.get("translation") == TRANSLATION)
    return sweep.get("runs", []) if same else []


def merge_run(sweep: dict | None, base: ParsingConfig, row: dict) -> dict:
    """The sweep file's new contents: the rows of ``sweep`` from the same base configuration, with
    ``row`` added (replacing an earlier run of its model and rate)."""
    rows = [r for r in finished_runs(sweep, base) if (r["model"], r["caffe_lr"]) != (row["model"], row["caffe_lr"])]
    rows.append(row)
    rows.sort(key=lambda r: (r["model"], -r["caffe_lr"]))
    return {"config": base.to_dict(), "translation": TRANSLATION, "pixels_per_image": pixels_per_image(base),
            "runs": rows}


def lr_sweep(models: Iterable[str], base: ParsingConfig, caffe_rates: Iterable[float] = CAFFE_RATES,
             skip: Iterable[tuple[str, float]] = (), progress: bool = False) -> Iterator[dict]:
    """Train each model at each rate with ``base``'s (reduced) settings, except the ``(model,
    caffe rate)`` pairs in ``skip``, and yield each run's row as it finishes: validation metrics of
    the last epoch, whether the run diverged and whether it predicts the background everywhere."""
    skip = set(skip)
    with tempfile.TemporaryDirectory() as scratch:
        for model in models:
            for caffe_rate in caffe_rates:
                if (model, caffe_rate) in skip:
                    continue
                config = dataclasses.replace(base, model=model, lr=mean_loss_rate(caffe_rate, base))
                path = train(config, Path(scratch) / f"{model}-{caffe_rate:g}.pt", progress=progress)
                last = json.loads(curve_path(path).read_text())[-1]
                yield {"model": model, "caffe_lr": caffe_rate, "lr": config.lr,
                       "diverged": not math.isfinite(last["loss"]),
                       "background_only": predicts_one_class(last["val_mean_acc"]),
                       **{k: last[k] for k in ("loss", "val_overall_acc", "val_mean_acc", "val_mean_iu")}}


def ranked_rates(runs: list[dict], models: tuple[str, ...] = ("net1", "net2")) -> list[tuple[float, float]]:
    """(rate on the mean loss, validation mean IU averaged over ``models``), best first, of the rates
    where none of ``models`` diverged or learnt only the background (ties keep the sweep's order)."""
    scores: dict[float, list] = {}
    for run in runs:
        if run["model"] in models:
            failed = run["diverged"] or run.get("background_only", False)
            scores.setdefault(run["lr"], []).append(None if failed else run["val_mean_iu"])
    usable = {lr: s for lr, s in scores.items() if len(s) == len(models) and None not in s}
    if not usable:
        raise ValueError(f"no rate trained all of {models} without diverging or predicting only the background; "
                         "run the sweep first")
    return sorted(((lr, sum(s) / len(models)) for lr, s in usable.items()), key=lambda rate: -rate[1])


def best_rate(runs: list[dict], models: tuple[str, ...] = ("net1", "net2")) -> float:
    """The rate (on the mean loss) with the highest validation mean IU averaged over ``models``,
    among rates where none of them diverged or learnt only the background (:func:`ranked_rates`). One
    rate for net1 and net2 keeps net2 - net1 the effect of dropout alone (the paper's best rate was the
    same for both), and averaging two models halves the noise of a 100-photo validation split."""
    return ranked_rates(runs, models)[0][0]
