"""Tuning the dense CRF on the validation split and measuring it on the test split (paper Table 3).

The search never looks at the test split. It chooses the kernel with the best validation mean IU
among those whose CRF is fast enough: p95 of the per-photo CRF time over the validation photos at
most ``TIME_BOUND_S`` on one core. The time is CPU time (``time.process_time`` in the worker, see
:func:`~clothlib.parsing.crf.timed_refine`) of the CRF at its working scale, on inputs already
shrunk to it, so waiting for a core on a busy machine is not counted (a machine busy enough to
share caches or hyper-threaded cores still slows it: run the search on a quiet one). A small colour bandwidth
makes the permutohedral lattice large on colourful photos, so cost varies by photo and by kernel:
the search keeps p50 / p95 / max per setting and the trade-off curve (the settings no other setting
beats on both mean IU and p95 time). It runs the network once per photo, keeps its
probabilities at the CRF's working scale, and scores every kernel setting on the same inputs.
Both functions return their results and write nothing: ``python -m clothlib.parsing crf-search``
saves the search as ``<stem>.crf.json`` (the one place ``predict --crf``, the pipeline and the
notebooks read the tuned parameters from, through :func:`tuned_crf_params`), and ``crf-eval``
saves FCN and FCN-CRF metrics, per photo too, as ``<stem>.<split>.crf.metrics.json``.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from ..config import progress_bar
from ..data.ccp import read_photo
from ..data.splits import load_split
from ..foundation import __version__
from ..results import beside, load_json
from ..timing import latency
from .checkpoints import load_checkpoint
from .crf import CRFParams, refine_split, resize_image, resize_probs, timed_refine
from .inference import SUMMARY_METRICS, SplitScore, predict_scores

# The first grid, (20, 40, 80) x (5, 10, 20) x (3, 10), put its best colour bandwidth (5) and weight
# (10) on its edges (its best setting with weight 3 scored below its best with 10): this one goes
# past those edges and the position ones (larger bandwidths also make the lattice smaller, so faster).
CRF_GRID = {"bilateral_sxy": (20.0, 40.0, 80.0, 160.0), "bilateral_srgb": (3.0, 5.0, 10.0, 20.0, 40.0),
            "bilateral_weight": (10.0, 20.0)}
TIME_BOUND_S = 0.3  # p95 CRF CPU seconds per photo on the validation split
SEARCH_SCALE = 0.5
METRICS = (*SUMMARY_METRICS, "boundary_f")  # what the search keeps of each setting's score


def crf_file(checkpoint: str | os.PathLike) -> Path:
    """Where the search for ``checkpoint`` is kept: ``<stem>.crf.json`` beside it."""
    return beside("crf_search", checkpoint)


def tuned_crf_params(checkpoint: str | os.PathLike) -> CRFParams:
    """The setting chosen on the validation split for this checkpoint, or an error saying how to tune."""
    search = load_json(crf_file(checkpoint), f"python -m clothlib.parsing crf-search --checkpoint {checkpoint}")
    return CRFParams.from_dict(search["best"])


def trade_off(runs: list[dict]) -> list[dict]:
    """The settings no other one beats on both mean IU (higher) and p95 time (lower), fastest first:
    the curve of what each extra millisecond buys."""
    curve = []
    for run in sorted(runs, key=lambda r: (r["cpu_s_p95"], -r["mean_iu"])):
        if not curve or run["mean_iu"] > curve[-1]["mean_iu"]:
            curve.append(run)
    return curve


def choose_within(runs: list[dict], bound_s: float = TIME_BOUND_S) -> dict:
    """The setting with the best mean IU among those with p95 time <= ``bound_s``, or an error."""
    fast = [run for run in runs if run["cpu_s_p95"] <= bound_s]
    if not fast:
        raise ValueError(f"no CRF setting has p95 time <= {bound_s} s; widen the grid towards larger bandwidths")
    return max(fast, key=lambda run: run["mean_iu"])


def search_crf(checkpoint: str | os.PathLike, split: str = "val", grid: dict = CRF_GRID, scale: float = SEARCH_SCALE,
               iterations: int = 5, max_photos: int | None = None, workers: int = 2, progress: bool = True,
               bound_s: float = TIME_BOUND_S) -> dict:
    """Score and time every setting of ``grid`` (other parameters at their defaults) on ``split``;
    return every setting's metrics and CPU time per photo, the FCN's metrics alone, the trade-off
    curve and the best setting by mean IU within the time bound (``best``)."""
    model, config, _ = load_checkpoint(checkpoint)
    ids = load_split(split, max_photos=max_photos)
    shrunk = {}
    baseline = SplitScore(boundary=True)
    for photo_id in progress_bar(ids, desc=f"network on {split}", enabled=progress):
        photo = read_photo(photo_id)
        probs = predict_scores(model, photo, config.eval_height).numpy()
        size = (round(photo.shape[0] * scale), round(photo.shape[1] * scale))
        shrunk[photo_id] = (resize_image(photo, *size), resize_probs(probs, *size).astype(np.float16))
        baseline.update(photo_id, shrunk[photo_id][1].argmax(0).astype(np.uint8))

    def load(photo_id):
        image, probs = shrunk[photo_id]
        return image, probs.astype(np.float32)

    runs = []
    for values in progress_bar(list(itertools.product(*grid.values())), desc="CRF settings", enabled=progress):
        params = CRFParams(iterations=iterations, scale=scale, **dict(zip(grid, values)))
        score, seconds = SplitScore(boundary=True), []
        for photo_id, (labels, cpu_s) in refine_split(ids, load, params.at_scale(), workers=workers, progress=False,
                                                      refiner=timed_refine):
            score.update(photo_id, labels)
            seconds.append(cpu_s)
        summary = score.summary()
        runs.append({**params.to_dict(), **{k: summary[k] for k in METRICS}, **latency(seconds, "cpu_s")})
    best = choose_within(runs, bound_s)
    fcn = baseline.summary()
    return {"checkpoint": Path(checkpoint).name, "split": split, "photos": len(ids), "scale": scale,
            "grid": grid, "chosen_by": f"{split} mean IU with p95 CRF time <= {bound_s} s",
            "time_bound_s": bound_s,
            "timing": "CPU seconds per photo (time.process_time in the worker, one core) of the CRF at its "
                      "working scale, inputs already shrunk",
            "fcn": {k: fcn[k] for k in METRICS}, "runs": runs, "trade_off": trade_off(runs),
            "unbounded_best": CRFParams.from_dict(max(runs, key=lambda run: run["mean_iu"])).to_dict(),
            "best": CRFParams.from_dict(best).to_dict(), "clothlib": __version__}


def evaluate_crf(checkpoint: str | os.PathLike, split: str = "test", params: CRFParams | None = None,
                 max_photos: int | None = None, workers: int = 2, progress: bool = True) -> dict:
    """FCN and FCN-CRF metrics side by side on ``split`` (the first ``max_photos`` of it), each per
    photo too, with the CRF at the tuned setting unless ``params`` is given; writes nothing."""
    model, config, _ = load_checkpoint(checkpoint)
    params = params or tuned_crf_params(checkpoint)
    ids = load_split(split, max_photos=max_photos)
    fcn, crf = SplitScore(boundary=True), SplitScore(boundary=True)

    def load(photo_id):
        photo = read_photo(photo_id)
        probs = predict_scores(model, photo, config.eval_height).numpy()
        fcn.update(photo_id, probs.argmax(0).astype(np.uint8))
        return photo, probs

    for photo_id, labels in refine_split(ids, load, params, workers=workers, progress=progress):
        crf.update(photo_id, labels)
    return {"checkpoint": Path(checkpoint).name, "split": split, "photos": len(ids),
            "crf_params": params.to_dict(), "fcn": fcn.summary(), "crf": crf.summary(),
            "clothlib": __version__}
