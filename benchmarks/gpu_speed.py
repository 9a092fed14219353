"""What a GPU buys: each stage timed on the CPU and on CUDA side by side, and net1 trained at the paper's size.

Stages, on every device present (the CPU, and ``cuda`` where PyTorch sees one):

- a training epoch of each parsing network (the shipped checkpoint's configuration: crop, batch, width;
  real CCP training photos through the augmenting loader, forward + backward + SGD step), timed over
  ``--steps`` batches and scaled to the epoch's batch count; and of the shipped hashing network
  (features of the training split's size, one full epoch: a step costs the same whatever the numbers);
- inference per photo: ``predict_scores`` of the shipped effnet_fcn and net1 on real test photos;
- encode per 1,000 items: frozen backbone + hashing network on 1,000 consumer views (128 x 128).

Then, on the settings' device (``CLOTHLIB_DEVICE=cuda`` or ``auto``; skipped on a CPU, whose budget is
the shipped net1's reduced size), net1 trained at the paper's size: full VGG width (1.0) on photos at
their own resolution (about 830 px tall, 768 x 512 crops), for ``--epochs`` epochs, and its test mean IU.
Each timing prints p50 / p95 / max over its repeats.

    CLOTHLIB_DEVICE=auto python benchmarks/gpu_speed.py [--steps 20] [--epochs 30]
    python benchmarks/gpu_speed.py --quick      # a few steps and photos: checks the script, writes nothing
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from clothlib import devices, settings
from clothlib.data import load_split, read_photo
from clothlib.data.classes import CLASSES, IGNORE_INDEX
from clothlib.data.dataset import CCPParsing, train_transform
from clothlib.hashing import load_checkpoint as load_hashing
from clothlib.hashing.features import Backbone
from clothlib.hashing.splitdata import ALL_TASKS, SplitData
from clothlib.hashing.training import training_step as hashing_step
from clothlib.parsing import MODELS, ParsingConfig, evaluate, load_checkpoint, make_model, predict_scores, train
from clothlib.results import artifact_path, save_json
from clothlib.timing import latency

RESULTS = str(artifact_path("benchmark", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                            benchmark="gpu_speed"))
HASHING = "hash_catt3_net_48.pt"
TRAIN_ITEMS = 7200  # the course set's training items (README: ~7,200), each a consumer and a shop view
PAPER_NET1 = {"width": 1.0, "base_height": 830, "crop": (768, 512), "eval_height": 830}  # the paper's size


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls after one warm-up (CUDA's work included: synchronised)."""
    fn()
    seconds = []
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        fn()
        _sync(device)
        seconds.append(time.perf_counter() - started)
    return seconds


def parsing_epoch(name: str, device: torch.device, steps: int) -> dict:
    """Seconds per training epoch of the shipped ``name``'s configuration, from ``steps`` batches."""
    config = load_checkpoint(settings.checkpoint_dir / f"{name}.pt")[1]
    model = make_model(config, pretrained=False).to(device).train()
    dataset = CCPParsing(ids=load_split(config.train_split),
                         transform=train_transform(config.crop, config.scale, config.base_height))
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=True,
                                         **devices.loader_options(device, config.workers))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    batches = iter(loader)

    def step():
        images, masks = devices.to_device(next(batches), device)
        with devices.autocast(device):
            scores = model(images).float()
        loss = torch.nn.functional.cross_entropy(scores, masks, ignore_index=IGNORE_INDEX)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds = _timed(step, device, min(steps, len(loader) - 1))  # a batch's loading counts: it is the epoch's too
    return {"stage": f"{name} training epoch", "unit": "s/epoch", "batches": len(loader),
            **latency([s * len(loader) for s in seconds], "epoch_s")}


def hashing_epoch(device: torch.device, steps: int | None) -> dict:
    """Seconds per training epoch of the shipped hashing network (``steps``: batches timed, None: all)."""
    model, config, checkpoint = load_hashing(settings.checkpoint_dir / HASHING)
    model.to(device).train()
    generator = torch.Generator().manual_seed(0)
    dim = checkpoint["in_features"]
    data = SplitData([str(i) for i in range(TRAIN_ITEMS)], torch.randn(TRAIN_ITEMS, 2, dim, generator=generator),
                     torch.randn(TRAIN_ITEMS, 2, dim, generator=generator), np.arange(TRAIN_ITEMS) // 2,
                     np.array(["top", "skirt", "jeans"])[np.arange(TRAIN_ITEMS) % 3],
                     {task: torch.zeros(TRAIN_ITEMS, dtype=torch.long) for task in ALL_TASKS})
    data = SplitData(data.item_ids, data.consumer.to(device), data.shop.to(device), data.pair_ids,
                     data.categories, devices.to_device(data.targets, device))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    step = hashing_step(config, data)
    batches = TRAIN_ITEMS // config.batch_size
    timed = min(steps or batches, batches)

    def epoch():
        for items in torch.randperm(TRAIN_ITEMS, device=device)[:timed * config.batch_size].split(config.batch_size):
            loss, _ = step(model, (items,))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    seconds = _timed(epoch, device, 3)
    return {"stage": f"{config.name} training epoch", "unit": "s/epoch", "batches": batches,
            **latency([s * batches / timed for s in seconds], "epoch_s")}


def inference(name: str, device: torch.device, photos: list) -> dict:
    """Seconds per photo of ``predict_scores`` with the shipped ``name`` at its inference height."""
    model, config, _ = load_checkpoint(settings.checkpoint_dir / f"{name}.pt")
    model.to(device)
    seconds = []
    for photo in photos:
        seconds += _timed(lambda photo=photo: predict_scores(model, photo, config.eval_height), device, 1)
    return {"stage": f"{name} inference", "unit": "s/photo", **latency(seconds, "photo_s")}


def encode(device: torch.device, items: int) -> dict:
    """Seconds per 1,000 consumer views through the frozen backbone and the shipped hashing network."""
    hasher, config, _ = load_hashing(settings.checkpoint_dir / HASHING)
    hasher.to(device).eval()
    backbone = Backbone(config.backbone).to(device)
    views = torch.randint(0, 256, (items, 128, 128, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

    @torch.no_grad()
    def run():
        for batch in views.split(64):
            hasher.codes(backbone(batch.to(device)))

    return {"stage": "encode", "unit": "s/1000 items",
            **latency([s * 1000 / items for s in _timed(run, device, 3)], "per_1000_s")}


def paper_net1(epochs: int, quick: bool) -> dict:
    """net1 at the paper's size trained on the settings' device; its test mean IU."""
    shipped = load_checkpoint(settings.checkpoint_dir / "net1.pt")[1]
    sizes = {"max_photos": 4, "batch_size": 2, "crop": (64, 64), "base_height": 96, "eval_height": 96,
             "width": 0.25} if quick else {}
    config = ParsingConfig(**{**shipped.to_dict(), **PAPER_NET1, "epochs": epochs, "init": None, **sizes})
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        model = load_checkpoint(train(config, os.path.join(folder, "net1_paper.pt"), progress=False))[0]
        wall = time.perf_counter() - started
    test = load_split("test", max_photos=config.max_photos)
    summary = evaluate(model, test, config.eval_height, progress=False).summary(CLASSES)
    return {"stage": "net1 at the paper's size", "device": str(devices.current()), "epochs": epochs,
            "config": config.to_dict(), "train_s": round(wall, 1), "test_photos": len(test),
            "test_mean_iu": round(summary["mean_iu"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="batches timed per parsing epoch (default %(default)s)")
    parser.add_argument("--photos", type=int, default=20, help="test photos timed (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of net1 at the paper's size")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script; writes no results")
    args = parser.parse_args()
    steps, photo_count, items, epochs = (2, 2, 64, 1) if args.quick else (args.steps, args.photos, 1000, args.epochs)
    compared = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    card = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print(f"devices: {', '.join(map(str, compared))}{f' ({card})' if card else ''}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    photos = [read_photo(i) for i in load_split("test")[:photo_count]]
    rows = []
    for device in compared:
        measured = [*(parsing_epoch(name, device, steps) for name in MODELS), hashing_epoch(device, steps),
                    *(inference(name, device, photos) for name in ("effnet_fcn", "net1")), encode(device, items)]
        for row in measured:
            row["device"] = str(device)
            p50, p95, top = (value for key, value in row.items() if key.endswith(("_p50", "_p95", "_max")))
            print(f"{row['device']:<5} {row['stage']:<28} {row['unit']:<13} p50 {p50:>9.3f}  p95 {p95:>9.3f}  "
                  f"max {top:>9.3f}", flush=True)
        rows += measured
    long_run = None
    if devices.current().type == "cuda" or args.quick:
        long_run = paper_net1(epochs, args.quick)
        print(f"net1 at the paper's size, {epochs} epochs on {long_run['device']}: {long_run['train_s']:.0f} s, "
              f"test mean IU {long_run['test_mean_iu']:.2f} % over {long_run['test_photos']} photos")
    else:
        print("net1 at the paper's size: skipped (set CLOTHLIB_DEVICE=cuda or auto on a machine with a GPU)")
    if args.quick:
        print("quick mode: nothing written")
        return
    result = {"devices": list(map(str, compared)), "card": card, "torch": torch.__version__,
              "cpu_threads": torch.get_num_threads(), "rows": rows, "paper_net1": long_run}
    print(f"wrote {save_json(RESULTS, result)}")


if __name__ == "__main__":
    main()
