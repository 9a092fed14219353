"""Build the consumer-to-shop set of garment items from CCP (notebook 04 explains it).

    python data_scripts/build_c2s.py                         # all 1,004 annotated photos -> data/c2s
    python data_scripts/build_c2s.py --max-photos 40         # a small set (fast mode)
    python data_scripts/build_c2s.py --predictions DIR       # plus pseudo-labelled tag-only photos

DIR holds ``<photo id>.png`` class maps of tag-only photos (``python -m clothlib.parsing predict``).
Running it again with the same options does nothing; with --verify it reads every item image first
and builds the set again if one is damaged. The build's parameters are the defaults of
``clothlib.data.c2s.C2SConfig``, the ones the notebooks' set is built with (``meta.json`` records
them all); a variant set is built from Python, ``build_c2s(out, config=C2SConfig(...))``, since
the colour swatches and the per-class length cuts are tables, not flags.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from clothlib.cli import check_output, positive_int
from clothlib.data.c2s import build_c2s, default_folder, load_meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", metavar="DIR", help=f"output folder (default: {default_folder()})")
    parser.add_argument("--max-photos", type=positive_int, metavar="N", help="only the first N photos of each source")
    parser.add_argument("--predictions", metavar="DIR", help="folder of predicted class maps of tag-only photos")
    parser.add_argument("--partial-predictions", action="store_true",
                        help="build from the class maps in --predictions even if some tag-only photos have none")
    parser.add_argument("--workers", type=positive_int, help="worker processes (default: up to 4 cores; 1: none)")
    parser.add_argument("--verify", action="store_true",
                        help="read every item image of an existing build; build again if one is damaged")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    check_output(parser, args.out or default_folder(), "--out" if args.out else "--out DIR", folder=True)

    start = time.perf_counter()
    try:
        out = build_c2s(args.out, predictions=args.predictions, max_photos=args.max_photos,
                        workers=args.workers, progress=not args.quiet, partial_predictions=args.partial_predictions,
                        verify=args.verify)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:  # the input or --out: the message says what to do
        parser.exit(1, f"error: {exc}\n")
    counts = load_meta(out)["counts"]
    print(f"{out}: {counts['items']} items ({time.perf_counter() - start:.1f} s)")
    print(json.dumps({k: counts[k] for k in ("by_split", "by_source", "by_category", "pseudo")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
