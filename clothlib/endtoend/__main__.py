"""``python -m clothlib.endtoend``: retrieval with queries cut from parsed photos, saved as a results file.

    python -m clothlib.endtoend --out checkpoints/end_to_end.test.json [--hashing CHECKPOINT]

The shipped parser (FCN, then FCN-CRF) cuts every garment of the test photos; each is searched in
the gallery of the consumer-to-shop set's test shop views with the hashing network's codes. The
library computes (:func:`clothlib.endtoend.evaluate_parsers`); this command line saves.
"""
from __future__ import annotations

import argparse

from ..cli import check_output
from ..results import save_json, shown
from . import evaluate_parsers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clothlib.endtoend", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True,
                        help=f"results JSON (the shipped one: {shown('end_to_end', split='test')})")
    parser.add_argument("--hashing", help="hashing checkpoint (default: the shipped network's, in checkpoints/)")
    args = parser.parse_args(argv)
    out = check_output(parser, args.out, "--out")
    result = evaluate_parsers(args.hashing)
    for name in ("fcn", "fcn_crf"):
        print(name, {k: result[name][k] for k in ("top1", "top10", "top20", "coverage")})
    print(f"wrote {save_json(out, result)}")


if __name__ == "__main__":
    main()
