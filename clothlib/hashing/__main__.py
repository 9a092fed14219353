"""``python -m clothlib.hashing {tune-backbone,train,evaluate,encode,compare-quantisers,ablation}``: the
hashing stage from the command line.

    python -m clothlib.hashing tune-backbone --out checkpoints/backbone_tuned.pt      # once, before training
    python -m clothlib.hashing train --model catt3_net --bits 48 --out checkpoints/hash_catt3_net_48.pt
    python -m clothlib.hashing evaluate --checkpoint checkpoints/hash_catt3_net_48.pt --split test
    python -m clothlib.hashing encode --checkpoint checkpoints/hash_catt3_net_48.pt --split test --out DIR
    python -m clothlib.hashing compare-quantisers --model catt3_net --bits 48 --backbone imagenet  # validation
    python -m clothlib.hashing ablation --model catt3_net --bits 48            # validation split

The library functions compute and return; this command line is what saves their results: the
summary metrics as ``<checkpoint stem>.<split>.metrics.json`` beside the checkpoint and the
per-item records (each item's codes and predicted values) as ``<...>.<split>.items.json`` beside
that, an export as a folder of ``.npy`` files and ``export.json``, the quantiser comparison as
``<shipped checkpoint stem>.quantisers.val.json`` in the checkpoints folder, the ablation as
``<shipped checkpoint stem>.ablation.val.json`` beside it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..cli import add_config_flags, check_output, config_from_args
from ..config import settings
from ..results import ARTIFACTS, beside, companion, metrics_path, save_arrays, save_json
from ..retrieval import export_files
from .ablation import ablation, compare_quantisers
from .backbone_tuning import TuningConfig, tune_backbone
from .config import HashingConfig, shipped_path
from .evaluation import evaluate_checkpoint
from .export import encode
from .features import BACKBONES
from .models import BITS, VARIANTS
from .quantisers import QUANTISERS
from .training import train

SPLITS = ("train", "val", "test")
CHOICES = {"model": tuple(VARIANTS), "bits": BITS, "backbone": BACKBONES, "protocol": ("instance", "similar"),
           "quantiser": tuple(QUANTISERS)}


def items_path(metrics_file: Path) -> Path:
    """Where the per-item records of a metrics file go: ``x.test.metrics.json`` -> ``x.test.items.json``."""
    return companion(metrics_file, "hashing_items", of="hashing_metrics")


def _check_outputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before any work, a command whose results could not be written where they would go."""
    if args.command == "encode":
        check_output(parser, args.out or settings.cache_dir / "codes", "--out DIR", folder=True,
                     instead="set CLOTHLIB_CACHE to a writable folder")
    elif args.out:
        check_output(parser, args.out, "--out")
    elif args.command == "evaluate":
        check_output(parser, metrics_path(args.checkpoint, args.split), "--out FILE",
                     instead="set CLOTHLIB_CHECKPOINTS to a writable copy")
    elif args.command in ("compare-quantisers", "ablation"):
        check_output(parser, shipped_path(config_from_args(HashingConfig, args)), "--out FILE",
                     instead="set CLOTHLIB_CHECKPOINTS to a writable copy")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clothlib.hashing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    tune_cmd = commands.add_parser("tune-backbone", help="tune the backbone's last stage for garments (resumes)")
    add_config_flags(tune_cmd, TuningConfig, {"protocol": ("instance", "similar")})
    tune_cmd.add_argument("--out", required=True, help="checkpoint to write, e.g. checkpoints/backbone_tuned.pt")
    train_cmd = commands.add_parser("train", help="train a hashing network (resumes if interrupted)")
    add_config_flags(train_cmd, HashingConfig, CHOICES)
    train_cmd.add_argument("--out", required=True, help="checkpoint to write, e.g. checkpoints/hash_catt3_net_48.pt")
    compare_cmd = commands.add_parser("compare-quantisers", help="one config, each quantiser, validation split")
    add_config_flags(compare_cmd, HashingConfig, CHOICES)
    compare_cmd.add_argument("--out", help=f"results JSON (default: {ARTIFACTS['quantisers'].pattern} beside the "
                             "shipped checkpoint, split val)")
    ablation_cmd = commands.add_parser("ablation", help="what each change to the paper's network bought (validation)")
    add_config_flags(ablation_cmd, HashingConfig, CHOICES)
    ablation_cmd.add_argument("--out", help=f"results JSON (default: {ARTIFACTS['ablation'].pattern} beside the "
                              "shipped checkpoint, split val)")
    eval_cmd = commands.add_parser("evaluate", help="task accuracies, pair accuracy, top-k and per-item records")
    encode_cmd = commands.add_parser("encode", help="packed codes and float features of a split's views")
    for cmd in (eval_cmd, encode_cmd):
        cmd.add_argument("--checkpoint", required=True)
        cmd.add_argument("--split", default="test", choices=SPLITS)
        cmd.add_argument("--c2s", help="consumer-to-shop folder (default: the one the network was trained on)")
    eval_cmd.add_argument("--out", help=f"results JSON (default: {ARTIFACTS['hashing_metrics'].pattern} beside it)")
    encode_cmd.add_argument("--out", help="export folder (default: data/cache/codes/<set>_<checkpoint>_<split>)")
    for cmd in (tune_cmd, train_cmd, eval_cmd, encode_cmd, compare_cmd, ablation_cmd):
        cmd.add_argument("--quiet", action="store_true", help="no progress bars (for logs)")
    args = parser.parse_args(argv)
    if args.command == "evaluate" and args.c2s and not args.out:
        parser.error("evaluate --c2s needs --out: the file beside the checkpoint holds the metrics on its own set")
    _check_outputs(parser, args)

    if args.command == "tune-backbone":
        print(f"wrote {tune_backbone(config_from_args(TuningConfig, args), args.out, progress=not args.quiet)}")
    elif args.command == "train":
        print(f"wrote {train(config_from_args(HashingConfig, args), args.out, progress=not args.quiet)}")
    elif args.command == "compare-quantisers":
        config = config_from_args(HashingConfig, args)
        result = compare_quantisers(config, progress=not args.quiet)
        print(json.dumps(result["rows"], indent=1))
        out = args.out or beside("quantisers", shipped_path(config), split="val")
        print(f"wrote {save_json(out, result)}")
    elif args.command == "ablation":
        config = config_from_args(HashingConfig, args)
        result = ablation(config, progress=not args.quiet)
        print(json.dumps(result["rows"], indent=1))
        out = args.out or beside("ablation", shipped_path(config), split="val")
        print(f"wrote {save_json(out, result)}")
    elif args.command == "evaluate":
        result = evaluate_checkpoint(args.checkpoint, args.split, progress=not args.quiet, folder=args.c2s)
        summary = {k: v for k, v in result.items() if k != "per_item"}
        out = save_json(args.out or beside("hashing_metrics", args.checkpoint, split=args.split), summary)
        records = {k: result[k] for k in ("checkpoint", "split", "items", "per_item")}
        print(json.dumps(summary, indent=1))
        print(f"wrote {out} and {save_json(items_path(out), records)}")
    elif args.command == "encode":
        export = encode(args.checkpoint, args.split, progress=not args.quiet, folder=args.c2s)
        name = f"{Path(export['meta']['c2s']).name}_{Path(args.checkpoint).stem}_{args.split}"
        default = settings.cache_dir / "codes" / name
        print(f"wrote {save_arrays(args.out or default, export_files(export), export['meta'])}")


if __name__ == "__main__":
    main()
