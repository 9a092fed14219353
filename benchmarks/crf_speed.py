"""Dense CRF speed on this CPU: seconds per photo against resolution (``CRFParams.scale``) and
mean-field iterations, on one real CCP test photo (~550 x 830 px, 13 classes); then the cost's spread
over photos: the tuned kernel (``checkpoints/effnet_fcn.crf.json``) and colour bandwidths around it,
each on a sample spread over the annotated test photos and the tag-only photos, as CPU seconds per
photo (``time.process_time``: one process on one core, so a busy machine does not inflate it),
reported as p50 / p95 / max with the slowest photo. A small colour bandwidth makes the
permutohedral lattice large on colourful photos, so the tail, not the mean, is what a budget must bound.

The time is the whole ``dense_crf`` call (checks, unary, resizing, pydensecrf). pydensecrf is
single-threaded, so this is one core; the CPU/wall ratio printed with each row confirms it.
Probabilities come from ``checkpoints/effnet_fcn.pt`` when it exists, else from a synthetic map
(the CRF's cost does not depend on the values).

    python benchmarks/crf_speed.py [--repeats 3] [--photos 24] [--quick]
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import time
from functools import partial

import numpy as np

from clothlib.config import settings
from clothlib.data import NUM_CLASSES, load_split, read_photo, tagged_ids
from clothlib.parsing import CRFParams, dense_crf, load_checkpoint, predict_scores, tuned_crf_params
from clothlib.results import artifact_path, save_json
from clothlib.timing import best_of

RESULTS = str(artifact_path("benchmark", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                            benchmark="crf_speed"))
CHECKPOINT = settings.checkpoint_dir / "effnet_fcn.pt"


@functools.cache
def network():
    return load_checkpoint(CHECKPOINT)


def probabilities(photo: np.ndarray) -> tuple[np.ndarray, str]:
    """The network's probabilities for ``photo`` if a checkpoint exists, else a random map."""
    if CHECKPOINT.exists():
        model, config, _ = network()
        return predict_scores(model, photo, config.eval_height).numpy(), CHECKPOINT.name
    logits = np.random.default_rng(0).normal(size=(NUM_CLASSES, *photo.shape[:2])).astype(np.float32)
    return np.exp(logits) / np.exp(logits).sum(0), "synthetic"


def spread(ids: list[str], count: int) -> list[str]:
    """``count`` ids evenly spaced over ``ids`` (all of them if fewer)."""
    step = max(1, len(ids) // max(count, 1))
    return ids[::step][:count]


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def spread_over_photos(photo_ids: list[str], kernels: dict[str, CRFParams]) -> list[dict]:
    """Per kernel, CPU seconds of the whole ``dense_crf`` call per photo: p50 / p95 / max and the slowest photo."""
    inputs = [(pid, photo, probabilities(photo)[0]) for pid, photo in ((pid, read_photo(pid)) for pid in photo_ids)]
    rows = []
    for name, params in kernels.items():
        seconds = {pid: cpu_seconds(partial(dense_crf, photo, probs, params)) for pid, photo, probs in inputs}
        p50, p95 = np.percentile(list(seconds.values()), [50, 95])
        slowest = max(seconds, key=seconds.get)
        rows.append({"kernel": name, **params.to_dict(), "cpu_s_p50": round(float(p50), 3),
                     "cpu_s_p95": round(float(p95), 3), "cpu_s_max": round(seconds[slowest], 3),
                     "slowest_photo": slowest})
        print(f"{name:<22} p50 {p50:.3f}  p95 {p95:.3f}  max {seconds[slowest]:.3f} s (photo {slowest})", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="scale 0.25, 1 iteration, 1 repeat, to check the script runs; writes no results "
                             "unless --out is given")
    parser.add_argument("--photos", type=int, default=24,
                        help="photos in the spread sample, half annotated test photos, half tag-only")
    parser.add_argument("--out", help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    scales, iterations = ([0.25], [1]) if args.quick else ([1.0, 0.75, 0.5, 0.25], [1, 5, 10])
    repeats = 1 if args.quick else args.repeats
    out = args.out or (None if args.quick else RESULTS)

    photo_id = load_split("test")[0]
    photo = read_photo(photo_id)
    probs, source = probabilities(photo)
    height, width = photo.shape[:2]
    print(f"photo {photo_id}: {width} x {height} px, {len(probs)} classes, probabilities: {source}; "
          f"pydensecrf is single-threaded (1 core)")
    print(f"{'scale':>6} {'CRF size':>10} {'iterations':>10} {'s/photo':>8} {'cpu/wall':>8}")
    rows = []
    for scale in scales:
        for n_iterations in iterations:
            params = CRFParams(iterations=n_iterations, scale=scale)
            seconds, cpu_per_wall = best_of(partial(dense_crf, photo, probs, params), repeats)
            row = {"scale": scale, "crf_width": round(width * scale), "crf_height": round(height * scale),
                   "iterations": n_iterations, "seconds_per_photo": round(seconds, 3),
                   "cpu_per_wall": round(cpu_per_wall, 2)}
            rows.append(row)
            print(f"{scale:>6.2f} {row['crf_width']:>4} x {row['crf_height']:<4} {n_iterations:>10} "
                  f"{seconds:>8.2f} {cpu_per_wall:>8.2f}", flush=True)
    count = 2 if args.quick else args.photos
    sample = spread(load_split("test"), count - count // 2) + spread(tagged_ids(), count // 2)
    tuned = tuned_crf_params(CHECKPOINT)
    kernels = {"tuned": tuned, **{f"tuned, srgb {srgb:g}": dataclasses.replace(tuned, bilateral_srgb=srgb)
                                  for srgb in (10.0, 20.0, 40.0) if srgb != tuned.bilateral_srgb}}
    print(f"CPU seconds per photo over {len(sample)} photos (annotated test and tag-only), whole dense_crf call:")
    spread_rows = spread_over_photos(sample, dict(list(kernels.items())[:1 if args.quick else None]))
    if out:
        saved = save_json(out, {"photo": photo_id, "width": width, "height": height, "classes": len(probs),
                                "probabilities": source, "threads": 1, "repeats": repeats,
                                "params": CRFParams().to_dict(), "rows": rows,
                                "spread": {"photos": sample, "timing": "time.process_time of one dense_crf call, "
                                           "one process (pydensecrf is single-threaded)", "rows": spread_rows}})
        print(f"wrote {saved}")


if __name__ == "__main__":
    main()
