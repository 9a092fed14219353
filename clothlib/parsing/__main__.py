"""``python -m clothlib.parsing {train,evaluate,predict}``: the parsing stage from the command line.

    python -m clothlib.parsing train --model effnet_fcn --epochs 24 --out checkpoints/effnet_fcn.pt
    python -m clothlib.parsing tune-height --checkpoint checkpoints/effnet_fcn.pt   # inference height, on val
    python -m clothlib.parsing evaluate --checkpoint checkpoints/effnet_fcn.pt --split test
    python -m clothlib.parsing predict --checkpoint checkpoints/effnet_fcn.pt --split test --out DIR
    python -m clothlib.parsing sweep --models net1 net2 --crop 256 176 --base-height 352 --workers 0 --epochs 4 --max-photos 240 --out checkpoints/lr_sweep.json
    python -m clothlib.parsing crf-search --checkpoint checkpoints/effnet_fcn.pt      # tune on val
    python -m clothlib.parsing crf-eval --checkpoint checkpoints/effnet_fcn.pt        # FCN vs FCN-CRF on test
    python -m clothlib.parsing predict --checkpoint checkpoints/effnet_fcn.pt --split test --out DIR --crf
"""
from __future__ import annotations

import argparse
import json

from ..cli import add_config_flags, config_from_args
from ..config import settings
from .models import MODELS
from .crf_search import evaluate_crf, search_crf
from .predict import predict_split
from .sweep import lr_sweep
from .train import EVAL_HEIGHTS, ParsingConfig, evaluate_checkpoint, train, tune_eval_height


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clothlib.parsing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train a parsing network (resumes if interrupted)")
    add_config_flags(train_cmd, ParsingConfig, {"model": MODELS})
    train_cmd.add_argument("--out", required=True, help="checkpoint to write, e.g. checkpoints/net1.pt")
    eval_cmd = commands.add_parser("evaluate", help="metrics on a split, written beside the checkpoint")
    eval_cmd.add_argument("--checkpoint", required=True)
    eval_cmd.add_argument("--split", default="test", choices=["train", "val", "test"])
    eval_cmd.add_argument("--max-photos", type=int, default=settings.pick(settings.fast_photos, None))
    height_cmd = commands.add_parser("tune-height", help="choose the inference height on the validation split")
    height_cmd.add_argument("--checkpoint", required=True)
    height_cmd.add_argument("--heights", type=int, nargs="+", default=list(EVAL_HEIGHTS))
    predict_cmd = commands.add_parser("predict", help="write <photo id>.png class maps for a split")
    predict_cmd.add_argument("--checkpoint", required=True)
    predict_cmd.add_argument("--split", default="test", choices=["train", "val", "test", "tagged"],
                             help="a split of the annotated photos, or 'tagged': the tag-only photos")
    predict_cmd.add_argument("--out", required=True, help="folder for the PNGs and classes.json")
    predict_cmd.add_argument("--max-photos", type=int, default=settings.pick(settings.fast_photos, None))
    predict_cmd.add_argument("--crf", action="store_true", help="refine with the CRF tuned on the validation split")
    for name, help_text, split in (("crf-search", "tune the dense CRF's kernels on a split", "val"),
                                   ("crf-eval", "FCN vs FCN-CRF metrics on a split", "test")):
        cmd = commands.add_parser(name, help=help_text)
        cmd.add_argument("--checkpoint", required=True)
        cmd.add_argument("--split", default=split, choices=["train", "val", "test"])
        cmd.add_argument("--max-photos", type=int, default=settings.pick(settings.fast_photos, None))
        cmd.add_argument("--workers", type=int, default=2)
    sweep_cmd = commands.add_parser("sweep", help="paper Tables 1-2: the Caffe learning rates, translated")
    add_config_flags(sweep_cmd, ParsingConfig, {"model": MODELS})
    sweep_cmd.add_argument("--models", nargs="+", choices=MODELS, default=["net1", "net2"])
    sweep_cmd.add_argument("--out", required=True, help="JSON file for the results")
    args = parser.parse_args(argv)

    if args.command in ("train", "sweep"):
        config = config_from_args(ParsingConfig, args)
    if args.command == "train":
        print(f"wrote {train(config, args.out)}")
    elif args.command == "sweep":
        for row in lr_sweep(args.models, config, args.out):
            print(row)
    elif args.command == "evaluate":
        summary = evaluate_checkpoint(args.checkpoint, args.split, args.max_photos)
        print(json.dumps({k: summary[k] for k in ("overall_acc", "mean_acc", "mean_iu", "per_class_iou")}, indent=1))
    elif args.command == "tune-height":
        result = tune_eval_height(args.checkpoint, tuple(args.heights))
        for row in result["heights"]:
            print(row)
        print(f"eval_height {result['previous']} -> {result['best']} in {args.checkpoint}")
    elif args.command == "predict":
        print(f"wrote {predict_split(args.checkpoint, args.split, args.out, args.max_photos, crf=args.crf)}")
    elif args.command == "crf-search":
        result = search_crf(args.checkpoint, args.split, max_photos=args.max_photos, workers=args.workers)
        print("FCN:", result["fcn"], "\nbest:", result["best"])
    elif args.command == "crf-eval":
        result = evaluate_crf(args.checkpoint, args.split, max_photos=args.max_photos, workers=args.workers,
                              save=True)
        for name in ("fcn", "crf"):
            print(name, {k: result[name][k] for k in ("overall_acc", "mean_acc", "mean_iu", "boundary_f")})


if __name__ == "__main__":
    main()
