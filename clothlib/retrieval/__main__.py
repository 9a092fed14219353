"""``python -m clothlib.retrieval evaluate``: score an encode export from the command line.

    python -m clothlib.retrieval evaluate --codes DIR [--out FILE]
    python -m clothlib.retrieval baselines --out checkpoints/retrieval_baselines.json
    python -m clothlib.retrieval end-to-end --out checkpoints/end_to_end.test.json

Writes top-k accuracy and mAP of the hash codes (Hamming) and of the float features (cosine),
under the instance and similar-item protocols, to FILE (default ``DIR/retrieval.json``).
"""
from __future__ import annotations

import argparse
import json

from ..data.c2s import default_folder
from ..io import atomic_write
from .evaluate import RESULT_NAME, evaluate_baselines, write_evaluation
from .metrics import TOP_K


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clothlib.retrieval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    evaluate_cmd = commands.add_parser("evaluate", help="top-k and mAP of an encode export, hash and float")
    evaluate_cmd.add_argument("--codes", required=True, help="encode export folder (export.json, *_codes.npy, ...)")
    evaluate_cmd.add_argument("--out", help=f"results JSON (default DIR/{RESULT_NAME})")
    baselines_cmd = commands.add_parser("baselines", help="raw backbone features, LSH and ITQ on the test split")
    baselines_cmd.add_argument("--out", required=True, help="results JSON")
    baselines_cmd.add_argument("--c2s", help="consumer-to-shop folder (default: data/c2s)")
    baselines_cmd.add_argument("--backbone", default="imagenet", choices=("imagenet", "parsing"))
    e2e_cmd = commands.add_parser("end-to-end", help="queries cut from parsed photos (FCN, FCN-CRF) vs ground-truth boxes")
    e2e_cmd.add_argument("--out", required=True, help="results JSON")
    e2e_cmd.add_argument("--hashing", help="hashing checkpoint (default: checkpoints/hash_catt3_net_48.pt)")
    args = parser.parse_args(argv)

    if args.command == "end-to-end":
        from ..pipeline import ClothingRetriever, evaluate_end_to_end

        retriever = ClothingRetriever.from_checkpoints(hashing=args.hashing, progress=False)
        result = {"hashing": retriever.hasher_config.model, "bits": retriever.hasher_config.bits,
                  "gallery": len(retriever.gallery_ids), "fcn": evaluate_end_to_end(retriever, crf=False, progress=False),
                  "fcn_crf": evaluate_end_to_end(retriever, crf=True, progress=False)}
        with atomic_write(args.out) as f:
            json.dump(result, f, indent=1)
        for name in ("fcn", "fcn_crf"):
            print(name, {k: result[name][k] for k in ("top1", "top10", "top20", "coverage")})
        print(f"wrote {args.out}")
        return
    if args.command == "baselines":
        result = evaluate_baselines(args.c2s or default_folder(), args.backbone)
        with atomic_write(args.out) as f:
            json.dump(result, f, indent=1)
        for name, scores in result["rows"].items():
            print(f"{name:<14} top20 instance {_percent(scores['instance']['top20']):>7}  "
                  f"similar {_percent(scores['similar']['top20']):>7}")
        print(f"wrote {args.out}")
        return
    out, result = write_evaluation(args.codes, args.out)
    columns = [f"top{k}" for k in TOP_K] + ["mAP"]
    print(f"{result['model']} | {result['bits']} bits | {result['split']}: "
          f"{result['queries']} queries, {result['gallery']} gallery items")
    print(f"{'':<16}" + "".join(f"{name:>8}" for name in columns))
    for kind in ("hash", "float"):
        for protocol, scores in result[kind].items():
            print(f"{kind + ' ' + protocol:<16}" + "".join(f"{_percent(scores[name]):>8}" for name in columns))
    print(f"wrote {out}")


def _percent(value) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
