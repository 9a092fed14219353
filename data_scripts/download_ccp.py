"""Download (or copy) the Clothing Co-Parsing dataset and verify every file.

    python data_scripts/download_ccp.py                     # download from GitHub into data/ccp
    python data_scripts/download_ccp.py --source DIR        # copy a local copy (folder or .zip)
    python data_scripts/download_ccp.py --dest /big/disk/ccp
    python data_scripts/download_ccp.py --verify            # check every file's sha256, fetch bad ones again

Every file is checked against its sha256 as it is written. Running it again once the data is
verified does nothing (it checks sizes only); --verify hashes every file and repairs what is bad.
"""
from __future__ import annotations

import argparse
import sys

from clothlib import settings
from clothlib.cli import check_output
from clothlib.data.download import DEFAULT_URL, DatasetError, fetch_ccp, write_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", metavar="DIR",
                        help="copy from a local CCP folder, unzipped archive or .zip instead of downloading")
    parser.add_argument("--url", default=DEFAULT_URL, help="archive to download (default: %(default)s)")
    parser.add_argument("--dest", metavar="DIR",
                        help=f"where to put the data (default: {settings.data_root}, or $CLOTHLIB_DATA)")
    parser.add_argument("--verify", action="store_true",
                        help="check every file of a verified copy against its sha256; fetch missing or damaged ones "
                             "again (from --source, or the download)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    parser.add_argument("--write-manifest", metavar="DIR",
                        help="maintainers: regenerate clothlib/data/ccp_manifest.tsv from a trusted copy")
    args = parser.parse_args(argv)
    if not args.write_manifest:
        check_output(parser, args.dest or settings.data_root, "--dest" if args.dest else "--dest DIR", folder=True,
                     instead="set CLOTHLIB_DATA")

    try:
        if args.write_manifest:
            print(f"Wrote {write_manifest(args.write_manifest)}")
            return 0
        dest = fetch_ccp(args.dest, source=args.source, url=args.url, progress=not args.quiet, verify=args.verify)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if dest != settings.data_root:
        print(f"clothlib looks for the data in {settings.data_root}; point it here with\n"
              f"    export CLOTHLIB_DATA={dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
