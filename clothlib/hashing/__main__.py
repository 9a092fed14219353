"""``python -m clothlib.hashing {train,evaluate,encode}``: the hashing stage from the command line.

    python -m clothlib.hashing train --model catt3_net --bits 48 --out checkpoints/hash_catt3_net_48.pt
    python -m clothlib.hashing evaluate --checkpoint checkpoints/hash_catt3_net_48.pt --split test
    python -m clothlib.hashing encode --checkpoint checkpoints/hash_catt3_net_48.pt --split test --out DIR
"""
from __future__ import annotations

import argparse
import json

from ..cli import add_config_flags, config_from_args
from .models import BITS, VARIANTS
from .train import HashingConfig, encode, evaluate_checkpoint, train

SPLITS = ("train", "val", "test")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clothlib.hashing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train a hashing network (resumes if interrupted)")
    add_config_flags(train_cmd, HashingConfig, {"model": tuple(VARIANTS), "bits": BITS,
                                                "backbone": ("imagenet", "parsing"), "protocol": ("instance", "similar")})
    train_cmd.add_argument("--out", required=True, help="checkpoint to write, e.g. checkpoints/hash_catt3_net_48.pt")
    eval_cmd = commands.add_parser("evaluate", help="task accuracies, pair accuracy and top-k, written beside the checkpoint")
    encode_cmd = commands.add_parser("encode", help="packed codes and float features of a split's views")
    for cmd in (eval_cmd, encode_cmd):
        cmd.add_argument("--checkpoint", required=True)
        cmd.add_argument("--split", default="test", choices=SPLITS)
    encode_cmd.add_argument("--out", help="export folder (default: data/cache/codes/<checkpoint>_<split>)")
    for cmd in (train_cmd, eval_cmd, encode_cmd):
        cmd.add_argument("--quiet", action="store_true", help="no progress bars (for logs)")
    args = parser.parse_args(argv)

    if args.command == "train":
        print(f"wrote {train(config_from_args(HashingConfig, args), args.out, progress=not args.quiet)}")
    elif args.command == "evaluate":
        print(json.dumps(evaluate_checkpoint(args.checkpoint, args.split, progress=not args.quiet), indent=1))
    elif args.command == "encode":
        print(f"wrote {encode(args.checkpoint, args.split, args.out, progress=not args.quiet)}")


if __name__ == "__main__":
    main()
