"""End-to-end speed of ``ClothingRetriever.retrieve`` on this CPU: seconds per street photo and per
stage (parsing, dense CRF, garment crops, encoding, Hamming search), over real CCP test photos,
with the shipped checkpoints and the test items' shop views as the gallery. The course's target
is at most 2 s per photo on two cores.

    python benchmarks/pipeline_speed.py [--photos 20]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from clothlib.data import load_split, read_photo
from clothlib.io import atomic_write
from clothlib.pipeline import ClothingRetriever

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "pipeline_speed.json")
TARGET_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args()

    retriever = ClothingRetriever.from_checkpoints(progress=False)
    photo_ids = load_split("test")[:args.photos]
    retriever.retrieve(read_photo(photo_ids[0]))  # warm-up: first calls allocate and load kernels
    per_photo, garments = [], 0
    for photo_id in photo_ids:
        photo = read_photo(photo_id)
        started = time.perf_counter()
        garments += len(retriever.retrieve(photo, k=10))
        per_photo.append({"total": time.perf_counter() - started, **retriever.timings})
    stages = list(per_photo[0])
    mean = {stage: round(float(np.mean([t.get(stage, 0.0) for t in per_photo])), 4) for stage in stages}
    result = {"photos": len(photo_ids), "garments_per_photo": round(garments / len(photo_ids), 2),
              "gallery": len(retriever.gallery_ids), "torch_threads": torch.get_num_threads(),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores", "mean_seconds": mean,
              "max_total_seconds": round(max(t["total"] for t in per_photo), 4),
              "target_seconds": TARGET_SECONDS, "met": mean["total"] <= TARGET_SECONDS}
    print(f"{len(photo_ids)} test photos, {result['garments_per_photo']} garments each, gallery {result['gallery']}, "
          f"{result['torch_threads']} torch threads")
    for stage, seconds in mean.items():
        print(f"{stage:>8}: {seconds:.3f} s")
    print(f"target <= {TARGET_SECONDS} s per photo: {'met' if result['met'] else 'NOT met'}")
    with atomic_write(args.out) as f:
        json.dump(result, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
