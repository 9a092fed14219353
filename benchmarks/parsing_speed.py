"""Parsing speed on this CPU: inference per photo at annotation resolution, and training images/s.

Inference is the whole ``predict_scores`` path on real test photos (resize, network, upsampling of
the scores to the annotation's size, softmax) at the network height the shipped checkpoint uses
(tuned on the validation split) and at the photo's full height. Training is forward + backward + SGD
step on a batch of the checkpoint's training crop size. Without a shipped checkpoint the defaults
of ``ParsingConfig`` are timed.

    python benchmarks/parsing_speed.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
from functools import partial

import torch

from clothlib import settings
from clothlib.data import load_split, read_photo
from clothlib.parsing import MODELS, ParsingConfig, load_checkpoint, make_model, predict_scores
from clothlib.results import artifact_path, save_json
from clothlib.timing import best_of

RESULTS = str(artifact_path("benchmark", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                            benchmark="parsing_speed"))


def shipped_config(name: str) -> ParsingConfig:
    """The configuration of ``checkpoints/<name>.pt`` (what the course runs), else the defaults."""
    path = settings.checkpoint_dir / f"{name}.pt"
    return load_checkpoint(path)[1] if path.exists() else ParsingConfig(model=name)


def measure(name: str, photos: list, repeats: int) -> dict:
    """One model's inference time (at its height and at full height) and training throughput."""
    config = shipped_config(name)
    model = make_model(config, pretrained=False)

    def infer(height):
        return [predict_scores(model, photo, height) for photo in photos]

    infer_ms = {height: 1000 * best_of(partial(infer, height), repeats)[0] / len(photos)
                for height in (config.eval_height, None)}
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(config.batch_size, 3, *config.crop)
    y = torch.randint(0, 13, (config.batch_size, *config.crop))

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    images_per_s = config.batch_size / best_of(step, max(2, repeats // 2))[0]
    return {"model": name, "params": sum(p.numel() for p in model.parameters()),
            "infer_ms_eval_height": round(infer_ms[config.eval_height], 1), "infer_ms_full": round(infer_ms[None], 1),
            "train_images_per_s": round(images_per_s, 2), "eval_height": config.eval_height,
            "train_crop": list(config.crop), "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    photos = [read_photo(i) for i in load_split("test")[:3]]
    rows = []
    print(f"torch threads: {torch.get_num_threads()}, photo {photos[0].shape[1]} x ~{photos[0].shape[0]} px")
    print(f"{'model':<11} {'params':>9} {'height':>7} {'ms/photo':>9} {'ms/photo @full':>15} {'train img/s':>12} "
          f"{'crop':>9}")
    for name in MODELS:
        row = measure(name, photos, args.repeats)
        rows.append(row)
        print(f"{name:<11} {row['params']:>9,} {row['eval_height']:>7} {row['infer_ms_eval_height']:>9.0f} "
              f"{row['infer_ms_full']:>15.0f} {row['train_images_per_s']:>12.1f} "
              f"{'x'.join(map(str, row['train_crop'])):>9}", flush=True)
    print(f"wrote {save_json(RESULTS, rows)}")


if __name__ == "__main__":
    main()
