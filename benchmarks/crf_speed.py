"""Dense CRF speed on this CPU: seconds per photo against resolution (``CRFParams.scale``) and
mean-field iterations, on one real CCP test photo (~550 x 830 px, 13 classes).

The time is the whole ``dense_crf`` call (checks, unary, resizing, pydensecrf). pydensecrf is
single-threaded, so this is one core; the CPU/wall ratio printed with each row confirms it.
Probabilities come from ``checkpoints/effnet_fcn.pt`` when it exists, else from a synthetic map
(the CRF's cost does not depend on the values).

    python benchmarks/crf_speed.py [--repeats 3] [--quick]
"""
from __future__ import annotations

import argparse
import os
from functools import partial

import numpy as np

from clothlib.config import settings
from clothlib.data import NUM_CLASSES, load_split, read_photo
from clothlib.parsing import CRFParams, dense_crf, load_checkpoint, predict_scores
from clothlib.results import save_json
from clothlib.timing import best_of

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "crf_speed.json")
CHECKPOINT = settings.checkpoint_dir / "effnet_fcn.pt"


def probabilities(photo: np.ndarray) -> tuple[np.ndarray, str]:
    """The network's probabilities for ``photo`` if a checkpoint exists, else a random map."""
    if CHECKPOINT.exists():
        model, config, _ = load_checkpoint(CHECKPOINT)
        return predict_scores(model, photo, config.eval_height).numpy(), CHECKPOINT.name
    logits = np.random.default_rng(0).normal(size=(NUM_CLASSES, *photo.shape[:2])).astype(np.float32)
    return np.exp(logits) / np.exp(logits).sum(0), "synthetic"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="scale 0.25, 1 iteration, 1 repeat, to check the script runs; writes no results "
                             "unless --out is given")
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
    if out:
        saved = save_json(out, {"photo": photo_id, "width": width, "height": height, "classes": len(probs),
                                "probabilities": source, "threads": 1, "repeats": repeats,
                                "params": CRFParams().to_dict(), "rows": rows})
        print(f"wrote {saved}")


if __name__ == "__main__":
    main()
