"""``python -m clothlib.retrieval evaluate``: score an encode export from the command line.

    python -m clothlib.retrieval evaluate --codes DIR [--out FILE]

Writes top-k accuracy and mAP of the hash codes (Hamming) and of the float features (cosine),
under the instance and similar-item protocols, to FILE (default ``DIR/retrieval.json``).
"""
from __future__ import annotations

import argparse

from .evaluate import RESULT_NAME, write_evaluation
from .metrics import TOP_K


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clothlib.retrieval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    evaluate_cmd = commands.add_parser("evaluate", help="top-k and mAP of an encode export, hash and float")
    evaluate_cmd.add_argument("--codes", required=True, help="encode export folder (export.json, *_codes.npy, ...)")
    evaluate_cmd.add_argument("--out", help=f"results JSON (default DIR/{RESULT_NAME})")
    args = parser.parse_args(argv)

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
