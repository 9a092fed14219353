"""Render the README's generated sections from results files, so no number there is typed by hand.

    python -m clothlib.report          # rewrite every generated section of README.md

A section sits between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->`` and is produced by the
function of the same name in ``SECTIONS``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

from .config import REPO_DIR
from .io import atomic_write

RESULTS_DIR = REPO_DIR / "benchmarks" / "results"
README = REPO_DIR / "README.md"


def notebook_title(path: Path) -> str:
    """The first markdown heading of a notebook, without its "NN ·" prefix."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].split("·", 1)[-1].strip()
    return path.stem


def course_map() -> str:
    """Notebook, topic, and the wall time / peak memory measured by benchmarks/course_budget.py."""
    budget_file = RESULTS_DIR / "course_budget.json"
    budget = json.loads(budget_file.read_text()) if budget_file.exists() else {"notebooks": {}}

    def cell(name: str, mode: str) -> str:
        figures = budget["notebooks"].get(name, {}).get(mode)
        return f"{figures['seconds']:.0f} s / {figures['peak_mib']} MiB" if figures else "not measured"

    rows = ["| notebook | what it teaches | fast mode (time / peak memory) | default mode |", "|---|---|---|---|"]
    for path in sorted((REPO_DIR / "notebooks").glob("*.ipynb")):
        rows.append(f"| [{path.name}](notebooks/{path.name}) | {notebook_title(path)} | "
                    f"{cell(path.name, 'fast')} | {cell(path.name, 'default')} |")
    if "machine" in budget:
        rows.append(f"\nMeasured by `python benchmarks/course_budget.py` on {budget['machine']}. "
                    f"Peak memory includes the libraries themselves: importing torch, torchvision and "
                    f"matplotlib alone peaks at {budget['import_baseline_mib']} MiB with the torch build "
                    "installed there (a CPU-only build is smaller).")
    return "\n".join(rows)


SECTIONS = {"course-map": course_map}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- begin: {name} -->).*?(<!-- end: {name} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"README.md has no '<!-- begin: {name} -->' ... '<!-- end: {name} -->' section")
        text = pattern.sub(lambda m: f"{m.group(1)}\n{make()}\n{m.group(2)}", text)
    return text


def main() -> None:
    with atomic_write(README) as f:
        f.write(render(README.read_text()))
    print(f"updated {', '.join(SECTIONS)} in {README}")


if __name__ == "__main__":
    main()
