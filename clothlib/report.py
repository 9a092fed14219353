"""Render the generated sections of README.md and checkpoints/README.md from results files, so
no number there is typed by hand.

    python -m clothlib.report          # rewrite every generated section

A section sits between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->`` and is produced by the
function registered for NAME in ``SECTIONS``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

from .config import REPO_DIR
from .io import atomic_write
from .paper import METRICS, best_parsing_row

RESULTS_DIR = REPO_DIR / "benchmarks" / "results"
CHECKPOINTS = REPO_DIR / "checkpoints"
README = REPO_DIR / "README.md"
PARSING_MODELS = ("effnet_fcn", "net1", "net2")


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


def _json(path: Path) -> dict | list | None:
    return json.loads(path.read_text()) if path.exists() else None


def parsing_results() -> str:
    """Test-split metrics written by `python -m clothlib.parsing evaluate`, beside the paper's best."""
    rows = ["| model | overall acc | mean acc | mean IU | source |", "|---|---|---|---|---|"]
    for model in PARSING_MODELS:
        metrics = _json(CHECKPOINTS / f"{model}.test.metrics.json")
        if metrics:
            rows.append(f"| {model} (ours) | " + " | ".join(f"{metrics[m]:.2f}" for m in METRICS)
                        + f" | `checkpoints/{model}.test.metrics.json` ({metrics['photos']} test photos) |")
        else:
            rows.append(f"| {model} (ours) | - | - | - | not trained yet |")
    for model in ("net1", "net2"):
        rate, values = best_parsing_row(model)
        rows.append(f"| {model} (paper, Caffe lr {rate:.0e}) | " + " | ".join(f"{v:.2f}" for v in values)
                    + " | paper Tables 1-2 (their split) |")
    return "\n".join(rows)


def parsing_training() -> str:
    """Per shipped checkpoint: epochs, CPU training time, final validation mean IU, file size."""
    rows = ["| checkpoint | epochs | training wall time (2-core machine, shared) | final val mean IU | size |", "|---|---|---|---|---|"]
    for model in PARSING_MODELS:
        curve = _json(CHECKPOINTS / f"{model}.curve.json")
        path = CHECKPOINTS / f"{model}.pt"
        if not curve or not path.exists():
            rows.append(f"| {model}.pt | - | - | - | not trained yet |")
            continue
        hours = sum(epoch["seconds"] for epoch in curve) / 3600
        rows.append(f"| {model}.pt | {len(curve)} | {hours:.2f} h (+ validation) | {curve[-1]['val_mean_iu']:.2f} | "
                    f"{path.stat().st_size / 2**20:.1f} MB |")
    return "\n".join(rows)


SECTIONS = {
    "course-map": (README, course_map),
    "parsing-results": (README, parsing_results),
    "parsing-training": (CHECKPOINTS / "README.md", parsing_training),
}


def render(text: str, names: list[str]) -> str:
    for name in names:
        pattern = re.compile(rf"(<!-- begin: {name} -->).*?(<!-- end: {name} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"no '<!-- begin: {name} -->' ... '<!-- end: {name} -->' section to fill")
        make = SECTIONS[name][1]
        text = pattern.sub(lambda m: f"{m.group(1)}\n{make()}\n{m.group(2)}", text)
    return text


def sections_of(path: Path) -> list[str]:
    return [name for name, (target, _) in SECTIONS.items() if target == path]


def main() -> None:
    for path in dict.fromkeys(target for target, _ in SECTIONS.values()):
        with atomic_write(path) as f:
            f.write(render(path.read_text(), sections_of(path)))
        print(f"updated {', '.join(sections_of(path))} in {path}")


if __name__ == "__main__":
    main()
