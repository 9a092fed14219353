"""``python -m clothlib.data``: export the class table, (re)make the committed splits."""
from __future__ import annotations

import argparse

from ..cli import check_output, whole_number
from .ccp import annotated_ids
from .classes import CLASSES, export_classes
from .splits import SPLIT_SEED, make_splits, write_splits


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clothlib.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export-classes", help="write the 59 -> 13 table as JSON")
    export.add_argument("--out", required=True, help="JSON file to write")
    splits = commands.add_parser("make-splits", help="write clothlib/splits/ccp_{train,val,test}.txt")
    splits.add_argument("--seed", type=whole_number(0), default=SPLIT_SEED)
    splits.add_argument("--out-dir", default=None, help="folder (default: the package's splits/)")
    args = parser.parse_args(argv)
    if args.command == "export-classes":
        check_output(parser, args.out, "--out")
    elif args.out_dir:
        check_output(parser, args.out_dir, "--out-dir", folder=True)

    if args.command == "export-classes":
        path = export_classes(args.out)
        print(f"wrote {len(CLASSES)} classes to {path}")
    elif args.command == "make-splits":
        split = make_splits(annotated_ids(), seed=args.seed)
        for path in write_splits(split, args.out_dir):
            print(f"wrote {path} ({len(path.read_text().split())} photos)")


if __name__ == "__main__":
    main()
