"""``python -m clothlib.parsing``: the parsing stage from the command line, and the only part of
it that saves results (through :mod:`clothlib.results`). The library functions it calls compute
and return; this decides what to keep and where.

    python -m clothlib.parsing train --model effnet_fcn --epochs 24 --out checkpoints/effnet_fcn.pt
    python -m clothlib.parsing train --model effnet_fcn --init checkpoints/effnet_fcn.pt --loss lovasz_softmax \
        --epochs 4 --lr 0.002 --eval-height 640 --out checkpoints/levers/effnet_fcn_lovasz.pt   # fine-tune
    python -m clothlib.parsing tune-height --checkpoint checkpoints/effnet_fcn.pt   # inference height, on val
    python -m clothlib.parsing evaluate --checkpoint checkpoints/effnet_fcn.pt --split test
    python -m clothlib.parsing tta --checkpoint checkpoints/effnet_fcn.pt             # test-time augmentation, on val
    python -m clothlib.parsing predict --checkpoint checkpoints/effnet_fcn.pt --split test --out DIR
    python -m clothlib.parsing sweep --models net1 net2 --crop 256 176 --base-height 352 --workers 0 \
        --epochs 4 --max-photos 240 --out checkpoints/lr_sweep.json
    python -m clothlib.parsing crf-search --checkpoint checkpoints/effnet_fcn.pt      # tune on val
    python -m clothlib.parsing crf-eval --checkpoint checkpoints/effnet_fcn.pt        # FCN vs FCN-CRF on test
    python -m clothlib.parsing predict --checkpoint checkpoints/effnet_fcn.pt --split test --out DIR --crf

Metrics over a whole split are saved beside the checkpoint (``<stem>.<split>.metrics.json``,
``<stem>.<split>.crf.metrics.json``, ``<stem>.crf.json``, ``<stem>.<split>.tta.json``); a subset's
(``--max-photos``, the default in fast mode) are printed and saved only where ``--out`` says, never as
the split's.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from PIL import Image

from ..cli import add_config_flags, check_output, config_from_args, positive_int
from ..config import settings
from ..data.classes import export_classes
from ..data.splits import load_split
from ..io import atomic_write
from ..results import ARTIFACTS, beside, load_json, metrics_path, save_json
from .checkpoints import load_checkpoint
from .config import EVAL_HEIGHTS, ParsingConfig
from .crf_search import TIME_BOUND_S, crf_file, evaluate_crf, search_crf
from .evaluation import compare_augmentations, evaluate_checkpoint, tune_eval_height
from .losses import PIXEL_LOSSES
from .models import MODELS
from .predict import predict_split
from .sweep import CAFFE_RATES, finished_runs, lr_sweep, merge_run
from .training import release, train

SUMMARY = ("overall_acc", "mean_acc", "mean_iu")


def _keep(result: dict, split_file: Path, out: str | None) -> None:
    """Save ``result`` at ``out`` if given, else at ``split_file`` if it covers the whole split."""
    whole = result["photos"] == len(load_split(result["split"]))
    target = out or (split_file if whole else None)
    if target is None:
        print(f"{result['photos']} photos, a subset of {result['split']}: not saved as {split_file} "
              "(pass --out FILE to keep them)")
    else:
        print(f"wrote {save_json(target, result)}")


def _read_sweep(path: Path) -> dict | None:
    return load_json(path, "python -m clothlib.parsing sweep") if path.exists() else None


def _sweep(models: list[str], base: ParsingConfig, caffe_rates: list[float], out: Path) -> None:
    """Run the sweep into ``out``, skipping the runs it holds and merging each new row into the file
    as it is then (a sweep of another model, in another process, may have written meanwhile)."""
    done = {(row["model"], row["caffe_lr"]) for row in finished_runs(_read_sweep(out), base)}
    for row in lr_sweep(models, base, caffe_rates, skip=done):
        save_json(out, merge_run(_read_sweep(out), base, row))
        print(row, flush=True)


def _tune_height(checkpoint: str, heights: tuple[int, ...]) -> None:
    """Choose the inference height on the validation split, keep the table beside the checkpoint and
    re-release the checkpoint with that height in its config."""
    result = tune_eval_height(checkpoint, heights)
    for row in result["heights"]:
        print(row)
    model, config, released = load_checkpoint(checkpoint)
    release(model, dataclasses.replace(config, eval_height=result["best"]), released["history"], checkpoint)
    save_json(beside("eval_height", checkpoint), result)
    print(f"eval_height {result['previous']} -> {result['best']} in {checkpoint}")


def _write_class_maps(labelled, out: Path) -> Path:
    """One ``<photo id>.png`` of class indices per photo, and ``classes.json``."""
    out.mkdir(parents=True, exist_ok=True)
    for photo_id, labels in labelled:
        with atomic_write(out / f"{photo_id}.png", "wb") as f:
            Image.fromarray(labels).save(f, format="PNG")
    export_classes(out / "classes.json")
    return out


def _check_outputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before any work, a command whose results could not be written where they would go."""
    defaults = {"evaluate": metrics_path, "tta": lambda c, s: metrics_path(c, s, "tta"),
                "crf-search": lambda c, s: crf_file(c), "crf-eval": lambda c, s: metrics_path(c, s, "crf.metrics")}
    if args.command == "tune-height":  # re-releases the checkpoint and writes the table beside it
        check_output(parser, args.checkpoint, "--checkpoint", instead="copy the checkpoint somewhere writable")
    elif args.command == "predict":
        check_output(parser, args.out, "--out", folder=True)
    elif args.out:
        check_output(parser, args.out, "--out")
    elif args.command in defaults and (args.max_photos is None or args.max_photos >= len(load_split(args.split))):
        check_output(parser, defaults[args.command](args.checkpoint, args.split), "--out FILE")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clothlib.parsing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    subset = settings.pick(settings.fast_photos, None)
    train_cmd = commands.add_parser("train", help="train a parsing network (resumes if interrupted)")
    add_config_flags(train_cmd, ParsingConfig, {"model": MODELS, "loss": tuple(PIXEL_LOSSES)})
    train_cmd.add_argument("--out", required=True, help="checkpoint to write, e.g. checkpoints/net1.pt")
    eval_cmd = commands.add_parser("evaluate", help="metrics on a split, saved beside the checkpoint")
    eval_cmd.add_argument("--checkpoint", required=True)
    eval_cmd.add_argument("--split", default="test", choices=["train", "val", "test"])
    eval_cmd.add_argument("--max-photos", type=positive_int, default=subset)
    eval_cmd.add_argument("--out", help=f"results file (default: {ARTIFACTS['parsing_metrics'].pattern}, for a whole "
                          "split)")
    tta_cmd = commands.add_parser("tta", help="test-time augmentations (flip, scales): metrics and time per photo")
    tta_cmd.add_argument("--checkpoint", required=True)
    tta_cmd.add_argument("--split", default="val", choices=["train", "val", "test"])
    tta_cmd.add_argument("--max-photos", type=positive_int, default=subset)
    tta_cmd.add_argument("--out", help=f"results file (default: {ARTIFACTS['tta'].pattern}, for a whole split)")
    height_cmd = commands.add_parser("tune-height", help="choose the inference height on the validation split")
    height_cmd.add_argument("--checkpoint", required=True)
    height_cmd.add_argument("--heights", type=positive_int, nargs="+", default=list(EVAL_HEIGHTS))
    predict_cmd = commands.add_parser("predict", help="write <photo id>.png class maps for a split")
    predict_cmd.add_argument("--checkpoint", required=True)
    predict_cmd.add_argument("--split", default="test", choices=["train", "val", "test", "tagged"],
                             help="a split of the annotated photos, or 'tagged': the tag-only photos")
    predict_cmd.add_argument("--out", required=True, help="folder for the PNGs and classes.json")
    predict_cmd.add_argument("--max-photos", type=positive_int, default=subset)
    predict_cmd.add_argument("--crf", action="store_true", help="refine with the CRF tuned on the validation split")
    for name, help_text, split, saved in (
            ("crf-search", "tune the dense CRF's kernels on a split", "val", ARTIFACTS["crf_search"].pattern),
            ("crf-eval", "FCN vs FCN-CRF metrics on a split", "test", ARTIFACTS["crf_metrics"].pattern)):
        cmd = commands.add_parser(name, help=help_text)
        cmd.add_argument("--checkpoint", required=True)
        cmd.add_argument("--split", default=split, choices=["train", "val", "test"])
        cmd.add_argument("--max-photos", type=positive_int, default=subset)
        cmd.add_argument("--workers", type=positive_int, default=2)
        cmd.add_argument("--out", help=f"results file (default: {saved}, for a whole split)")
    commands.choices["crf-search"].add_argument(
        "--time-bound", type=float, default=TIME_BOUND_S,
        help="choose among settings whose p95 CRF CPU seconds per photo are at most this (default %(default)s)")
    sweep_cmd = commands.add_parser("sweep", help="paper Tables 1-2: the Caffe learning rates, translated")
    add_config_flags(sweep_cmd, ParsingConfig, {"model": MODELS})
    sweep_cmd.add_argument("--models", nargs="+", choices=MODELS, default=["net1", "net2"])
    sweep_cmd.add_argument("--caffe-rates", type=float, nargs="+", default=list(CAFFE_RATES),
                           help="the paper's (Caffe) rates to translate and train at")
    sweep_cmd.add_argument("--out", required=True, help="JSON file for the results (runs it holds are skipped)")
    args = parser.parse_args(argv)
    _check_outputs(parser, args)

    if args.command == "train":
        print(f"wrote {train(config_from_args(ParsingConfig, args), args.out)}")
    elif args.command == "sweep":
        _sweep(args.models, config_from_args(ParsingConfig, args), args.caffe_rates, Path(args.out))
    elif args.command == "evaluate":
        result = evaluate_checkpoint(args.checkpoint, args.split, args.max_photos)
        print(json.dumps({k: result[k] for k in (*SUMMARY, "per_class_iou")}, indent=1))
        _keep(result, metrics_path(args.checkpoint, args.split), args.out)
    elif args.command == "tta":
        result = compare_augmentations(args.checkpoint, args.split, args.max_photos)
        print(json.dumps(result["rows"], indent=1))
        _keep(result, metrics_path(args.checkpoint, args.split, "tta"), args.out)
    elif args.command == "tune-height":
        _tune_height(args.checkpoint, tuple(args.heights))
    elif args.command == "predict":
        labelled = predict_split(args.checkpoint, args.split, args.max_photos, crf=args.crf)
        print(f"wrote {_write_class_maps(labelled, Path(args.out))}")
    elif args.command == "crf-search":
        result = search_crf(args.checkpoint, args.split, max_photos=args.max_photos, workers=args.workers,
                            bound_s=args.time_bound)
        print("FCN:", result["fcn"], "\nbest:", result["best"])
        _keep(result, crf_file(args.checkpoint), args.out)
    elif args.command == "crf-eval":
        result = evaluate_crf(args.checkpoint, args.split, max_photos=args.max_photos, workers=args.workers)
        for name in ("fcn", "crf"):
            print(name, {k: result[name][k] for k in (*SUMMARY, "boundary_f")})
        _keep(result, metrics_path(args.checkpoint, args.split, "crf.metrics"), args.out)


if __name__ == "__main__":
    main()
