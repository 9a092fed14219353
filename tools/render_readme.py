"""Regenerate the generated sections of README.md and checkpoints/README.md from the results files, so
no number there is typed by hand.

    python tools/render_readme.py            # rewrite every generated section (make readme)
    python tools/render_readme.py --check    # print a diff and exit 1 if a document is stale (tests, CI)
    python tools/render_readme.py --only retrieval-results   # these sections only (the others untouched)

A section sits between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->``; ``clothlib.tables`` builds
its table from the checkpoint folder (``settings.checkpoint_dir``: ``CLOTHLIB_CHECKPOINTS`` or the
repository's ``checkpoints/``) and ``benchmarks/results/``. ``--only`` re-renders some sections and
leaves every other byte of the documents as it is, so a script that rewrote one stage's results
does not touch what others are editing.

Launch badges in the course map (Binder and Colab, one each per notebook) come from
``[tool.clothlib.readme] repository = "OWNER/REPO"`` in pyproject.toml (empty: no badges) and never from
the clone's git remotes: a fork renders the README its origin committed, so ``make test`` passes in every
clone. The same setting is the URL the notebooks' Colab lines clone (``tools/colab_bootstrap.py``).
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from clothlib import settings, tables
from clothlib.io import atomic_write
from clothlib.results import load_artifact

ROOT = Path(__file__).resolve().parents[1]


def notebook_title(path: Path) -> str:
    """The first markdown heading of a notebook, without its "NN ·" prefix."""
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            for line in source.splitlines():
                if line.startswith("# "):
                    return line[2:].split("·", 1)[-1].strip()
    return path.stem


def launch_repository(root: Path) -> str | None:
    """``OWNER/REPO`` on GitHub from pyproject.toml's ``[tool.clothlib.readme] repository``, or None."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    return config.get("tool", {}).get("clothlib", {}).get("readme", {}).get("repository") or None


CHECKPOINTS_README = ("parsing-training", "hashing-training")  # the shipped tables in checkpoints/README.md


def sections(root: Path, checkpoints: Path) -> dict[str, tuple[Path, Callable[[], str]]]:
    """Section name -> (the document holding it, the function that builds it): the course map, then
    every table of ``clothlib.tables.SHIPPED`` under its own name."""
    readme, checkpoints_readme = root / "README.md", root / "checkpoints" / "README.md"
    benchmarks = root / "benchmarks" / "results"

    def course_map() -> str:
        notebooks = [(path.name, notebook_title(path)) for path in sorted((root / "notebooks").glob("*.ipynb"))]
        return tables.course_map(notebooks, benchmark("course_budget"), launch_repository(root))

    def benchmark(name: str) -> dict:
        return load_artifact("benchmark", benchmarks, benchmark=name)

    given = {"retrieval-results": lambda: {"speed": benchmark("two_stage_speed")},
             "reproduce": lambda: {"budget": benchmark("course_budget")}}

    def maker(name: str) -> Callable[[], str]:
        return lambda: tables.shipped(name, checkpoints, **given.get(name, dict)())

    return {"course-map": (readme, course_map)} | {
        name: (checkpoints_readme if name in CHECKPOINTS_README else readme, maker(name)) for name in tables.SHIPPED}


def render(text: str, makers: Mapping[str, Callable[[], str]]) -> str:
    """``text`` with each named section's body replaced by what its maker returns."""
    for name, make in makers.items():
        match = re.search(rf"<!-- begin: {name} -->(.*?)<!-- end: {name} -->", text, re.S)
        if not match:
            raise ValueError(f"no '<!-- begin: {name} -->' ... '<!-- end: {name} -->' section to fill")
        text = text[:match.start(1)] + f"\n{make()}\n" + text[match.end(1):]
    return text


def rendered(root: Path, checkpoints: Path, only: Sequence[str] | None = None) -> dict[Path, tuple[str, str]]:
    """Document -> (its text now, its text rendered); ``only``: these sections (names), else all."""
    makers = sections(root, checkpoints)
    unknown = sorted(set(only or ()) - set(makers))
    if unknown:
        raise ValueError(f"no section named {', '.join(unknown)}; the sections are {', '.join(makers)}")
    documents: dict[Path, dict[str, Callable[[], str]]] = {}
    for name, (path, make) in makers.items():
        if only is None or name in only:
            documents.setdefault(path, {})[name] = make
    return {path: (path.read_text(), render(path.read_text(), makers)) for path, makers in documents.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; show a diff and fail if stale")
    parser.add_argument("--only", nargs="+", metavar="SECTION", help="render these sections only")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this script's)")
    parser.add_argument("--checkpoints", type=Path, default=settings.checkpoint_dir,
                        help=f"the results files (default: {settings.checkpoint_dir})")
    args = parser.parse_args(argv)
    stale = 0
    for path, (now, new) in rendered(args.root.resolve(), args.checkpoints.resolve(), args.only).items():
        if now == new:
            print(f"{path}: up to date")
        elif args.check:
            stale += 1
            sys.stdout.writelines(difflib.unified_diff(now.splitlines(True), new.splitlines(True), str(path),
                                                       f"{path} (rendered)"))
        else:
            with atomic_write(path) as f:
                f.write(new)
            print(f"{path}: updated")
    if stale:
        print(f"{stale} document(s) stale: run `python tools/render_readme.py`")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
