"""``python -m clothlib.retrieval {evaluate,baselines}``: retrieval scores from the command line.

    python -m clothlib.retrieval evaluate --codes DIR [--validation VAL_DIR] [--out FILE]
    python -m clothlib.retrieval baselines --out checkpoints/retrieval_baselines.json

``evaluate`` writes top-k accuracy and mAP of the hash codes (Hamming) and of the float features
(cosine) of an encode export, under the instance and similar-item protocols, to FILE (default
``DIR/retrieval.json``): with ties in gallery order, and for the codes also expected under a random
order within ties and the optimistic / pessimistic bounds. Given ``--validation`` (the same
network's export of the validation split), also two-stage search with both re-rankers, the shortlist
length chosen on that split; and the bytes each mode stores per gallery item. The library computes
and returns; this command line fetches the inputs (backbone features from :mod:`clothlib.hashing`)
and saves. Queries cut by the parser instead of the ground-truth box: ``python -m clothlib.endtoend``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..cli import check_output
from ..data.c2s import default_folder, load_manifest
from ..data.pairs import PROTOCOLS
from ..hashing.features import split_features
from ..results import artifact_name, save_json
from .evaluation import evaluate_baselines, evaluate_export, load_export
from .metrics import TOP_K
from .rerank import RERANKERS

RESULT_NAME = artifact_name("export_retrieval")  # ``evaluate`` writes it inside the export folder unless told otherwise


def baselines(folder: Path, backbone: str, split: str = "test", seed: int = 0) -> dict:
    """The baselines file: :func:`evaluate_baselines` on the frozen backbone's features of ``split``,
    fitted on the training split's views (consumer and shop)."""
    items = {row["item_id"]: row for row in load_manifest(folder)}
    train = split_features(folder, "train", backbone)
    test = split_features(folder, split, backbone)
    fit_on = np.concatenate([train["consumer"][:, 0], train["shop"][:, 0]])
    ids = {protocol: [items[str(item)][key] for item in test["item_ids"]] for protocol, key in PROTOCOLS.items()}
    return {"backbone": backbone, "split": split, "c2s": str(folder.resolve()), "queries": len(test["item_ids"]),
            "fitted_on": f"train split, {len(fit_on)} views", "seed": seed,
            "rows": evaluate_baselines(fit_on, test["consumer"][:, 0], test["shop"][:, 0], ids, seed=seed)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clothlib.retrieval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    evaluate_cmd = commands.add_parser("evaluate", help="top-k and mAP of an encode export, hash and float")
    evaluate_cmd.add_argument("--codes", required=True,
                              help=f"encode export folder ({artifact_name('export')}, *_codes.npy, ...)")
    evaluate_cmd.add_argument("--validation", help="the same network's export of another split (e.g. val): it "
                              "chooses the two-stage shortlist length; without it, no two-stage rows")
    evaluate_cmd.add_argument("--out", help=f"results JSON (default DIR/{RESULT_NAME})")
    baselines_cmd = commands.add_parser("baselines", help="raw backbone features, LSH and ITQ on the test split")
    baselines_cmd.add_argument("--out", required=True, help="results JSON")
    baselines_cmd.add_argument("--c2s", help="consumer-to-shop folder (default: data/c2s)")
    baselines_cmd.add_argument("--backbone", default="imagenet", choices=("imagenet", "parsing"))
    args = parser.parse_args(argv)
    out = check_output(parser, args.out or Path(args.codes) / RESULT_NAME, "--out" if args.out else "--out FILE")

    if args.command == "baselines":
        result = baselines(Path(args.c2s) if args.c2s else default_folder(), args.backbone)
        for name, scores in result["rows"].items():
            print(f"{name:<14} top20 instance {_percent(scores['instance']['top20']):>7}  "
                  f"similar {_percent(scores['similar']['top20']):>7}")
    else:
        result = evaluate_export(load_export(args.codes), load_export(args.validation) if args.validation else None)
        print_scores(result)
    print(f"wrote {save_json(out, result)}")


def print_scores(result: dict) -> None:
    """``evaluate``'s result as one line per mode, protocol and tie view."""
    columns = [f"top{k}" for k in TOP_K] + ["mAP"]
    print(f"{result['model']} | {result['bits']} bits | {result['split']}: "
          f"{result['queries']} queries, {result['gallery']} gallery items")
    print(f"{'':<40}" + "".join(f"{name:>8}" for name in columns))
    rows = [(f"{kind} {protocol}", scores) for kind in ("hash", "float") for protocol, scores in result[kind].items()]
    rows += [(f"hash {protocol} ties {view}", views[view]) for protocol, views in result["hash_ties"].items()
             for view in ("expected", "optimistic", "pessimistic")]
    two_stage = result.get("two_stage", {})
    rows += [(f"two-stage {reranker} R={two_stage[reranker]['shortlist']} {protocol} {view}",
              two_stage[reranker][protocol][view])
             for reranker in RERANKERS if reranker in two_stage for protocol in PROTOCOLS
             for view in ("gallery_order", "expected")]
    for label, scores in rows:
        print(f"{label:<40}" + "".join(f"{_percent(scores[name]):>8}" for name in columns))
    print("bytes per gallery item:", result["bytes_per_item"])
    if not two_stage:
        print("no two-stage rows: pass --validation with the same network's export of the validation split")


def _percent(value) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
