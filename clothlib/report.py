"""Render the generated sections of README.md and checkpoints/README.md from results files, so
no number there is typed by hand.

    python -m clothlib.report          # rewrite every generated section

A section sits between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->`` and is produced by the
function registered for NAME in ``SECTIONS``.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import nbformat

from .config import REPO_DIR
from .io import atomic_write
from .paper import CRF_TABLE, METRICS, best_parsing_row

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


def github_repository() -> str | None:
    """``OWNER/REPO`` of the repository's GitHub remote ``origin``, if it has one."""
    try:
        url = subprocess.run(["git", "remote", "get-url", "origin"], cwd=REPO_DIR, capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"github\.com[:/]([^/]+/[^/]+?)(\.git)?$", url)
    return match.group(1) if match else None


def course_map() -> str:
    """Notebook, topic, and the wall time / peak memory measured by benchmarks/course_budget.py."""
    budget = _json(RESULTS_DIR / "course_budget.json") or {"notebooks": {}}

    def cell(name: str, mode: str) -> str:
        figures = budget["notebooks"].get(name, {}).get(mode)
        return f"{figures['seconds']:.0f} s / {figures['peak_mib']} MiB" if figures else "not measured"

    repository = github_repository()
    rows = ["| notebook | what it teaches | fast mode (time / peak memory) | default mode |", "|---|---|---|---|"]
    for path in sorted((REPO_DIR / "notebooks").glob("*.ipynb")):
        launch = (f" [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/{repository}/HEAD"
                  f"?labpath=notebooks%2F{path.name})" if repository else "")
        rows.append(f"| [{path.name}](notebooks/{path.name}){launch} | {notebook_title(path)} | "
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
        refined = _json(CHECKPOINTS / f"{model}.test.crf.metrics.json")
        if refined:
            rows.append(f"| {model} + dense CRF (ours) | " + " | ".join(f"{refined['crf'][m]:.2f}" for m in METRICS)
                        + f" | `checkpoints/{model}.test.crf.metrics.json` (CRF tuned on the validation split) |")
    for model in ("net1", "net2"):
        rate, values = best_parsing_row(model)
        rows.append(f"| {model} (paper, Caffe lr {rate:.0e}) | " + " | ".join(f"{v:.2f}" for v in values)
                    + " | paper Tables 1-2 (their split) |")
    for rate, values in CRF_TABLE.items():
        rows.append(f"| net1 + CRF (paper, Caffe lr {rate:.0e}) | " + " | ".join(f"{v:.2f}" for v in values)
                    + " | paper Table 3 |")
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


def _hashing_runs() -> list[tuple[str, dict | None]]:
    from .hashing.train import SHIPPED_RUNS, checkpoint_name

    names = [checkpoint_name(*run)[:-3] for run in SHIPPED_RUNS]
    return [(name, _json(CHECKPOINTS / f"{name}.test.metrics.json")) for name in names]


def hashing_results() -> str:
    """Table 4: test accuracy per task (consumer views) written by `python -m clothlib.hashing evaluate`,
    beside the majority-class baseline and the paper's numbers."""
    from .hashing.models import VARIANTS, variant_tasks
    from .paper import HASHING_TASK_TABLE

    runs = {name: metrics for name, metrics in _hashing_runs() if metrics and metrics["bits"] == 48
            and metrics["backbone"] == "imagenet" and metrics["model"] != "simnet"}
    if not runs:
        return "Not trained yet: run `bash checkpoints/train_hashing.sh`."
    any_run = next(iter(runs.values()))
    rows = ["| task (test %) | majority class | " + " | ".join(m["model"] for m in runs.values())
            + " | paper: " + " / ".join(m["model"] for m in runs.values()) + " |",
            "|---|---|" + "---|" * len(runs) + "---|"]
    fmt = lambda value: "–" if value is None else f"{value:.1f}"
    for task in variant_tasks(VARIANTS["catt3_net"]):
        rows.append(f"| {task} | {fmt(any_run['majority'][task])} | "
                    + " | ".join(fmt(m.get(f"{task}_acc")) for m in runs.values()) + " | "
                    + " / ".join(fmt(HASHING_TASK_TABLE[m["model"]].get(task)) for m in runs.values()) + " |")
    rows.append(f"\n{any_run['items']} test items, consumer views; from `checkpoints/hash_*.test.metrics.json`. "
                "The paper's attribute groups differ from ours; the closest are shown.")
    return "\n".join(rows)


def retrieval_results() -> str:
    """Table 5: top-k and mAP (instance protocol) of the untrained baselines and of every shipped
    network, from `checkpoints/retrieval_baselines.json` and `checkpoints/hash_*.test.retrieval.json`."""
    from .hashing.models import BITS
    from .paper import RETRIEVAL_TABLE, RETRIEVAL_TOP_K

    columns = [f"top{k}" for k in RETRIEVAL_TOP_K] + ["mAP"]
    rows = ["| method (instance protocol, %) | " + " | ".join(columns) + " | similar-item top20 |",
            "|---|" + "---|" * (len(columns) + 1)]

    def row(name: str, scores: dict) -> str:
        return (f"| {name} | " + " | ".join(f"{scores['instance'][c]:.1f}" for c in columns)
                + f" | {scores['similar']['top20']:.1f} |")

    baselines = _json(CHECKPOINTS / "retrieval_baselines.json")
    if baselines:
        rows.append(row("raw ImageNet backbone features (float, no training)", baselines["rows"]["raw_features"]))
        rows += [row(f"{method} {bits} bits (on the raw features)", baselines["rows"][f"{method}-{bits}"])
                 for bits in BITS for method in ("LSH", "ITQ")]
    for name, _ in _hashing_runs():
        result = _json(CHECKPOINTS / f"{name}.test.retrieval.json")
        if result:
            suffix = " (parsing backbone)" if name.endswith("_parsing") else ""
            rows.append(row(f"{result['model']} {result['bits']} bits{suffix}", result["hash"]))
            if result["bits"] == 48:
                rows.append(row(f"{result['model']} float features{suffix}", result["float"]))
    rows += [f"| paper: {name} (their data) | " + " | ".join("–" if v is None else f"{100 * v:.1f}" for v in values)
             + " | – | – |" for name, values in RETRIEVAL_TABLE.items()]
    end_to_end = _json(CHECKPOINTS / "end_to_end.test.json")
    if end_to_end:
        rows.append(f"\nEnd to end (queries cut from the parsed photo instead of the ground-truth box, "
                    f"{end_to_end['hashing']} {end_to_end['bits']} bits): "
                    + "; ".join(f"{label}: top-20 {end_to_end[key]['top20']:.1f} % with the garment's class found "
                                f"for {end_to_end[key]['coverage']:.0f} % of items"
                                for key, label in (("fcn", "FCN"), ("fcn_crf", "FCN-CRF")))
                    + " (`checkpoints/end_to_end.test.json`).")
    return "\n".join(rows)


def hashing_training() -> str:
    """Per shipped hashing checkpoint: epochs, CPU training time, final validation top-20, size."""
    rows = ["| checkpoint | epochs | training time (2-core machine) | final val top-20 | size |", "|---|---|---|---|---|"]
    for name, _ in _hashing_runs():
        curve, path = _json(CHECKPOINTS / f"{name}.curve.json"), CHECKPOINTS / f"{name}.pt"
        if not curve or not path.exists():
            rows.append(f"| {name}.pt | - | - | - | not trained yet |")
            continue
        rows.append(f"| {name}.pt | {len(curve)} | {sum(e['seconds'] for e in curve) / 60:.1f} min (+ validation) | "
                    f"{curve[-1]['val_top20']:.1f} | {path.stat().st_size / 2**20:.1f} MB |")
    return "\n".join(rows)


def _walls(log: Path) -> list[float]:
    """The ``wall N s`` lines that ``/usr/bin/time`` wrote into a training script's log."""
    return [float(match) for match in re.findall(r"^wall ([0-9.]+) s$", log.read_text(), re.M)] if log.exists() else []


def reproduce() -> str:
    """The steps that rebuild every shipped result, with the CPU time each took where it was recorded."""
    budget = _json(RESULTS_DIR / "course_budget.json") or {"notebooks": {}}
    hours = {m: sum(e["seconds"] for e in _json(CHECKPOINTS / f"{m}.curve.json") or []) / 3600 for m in PARSING_MODELS}
    parsing_hours = hours["effnet_fcn"] + max(hours["net1"], hours["net2"])  # net1 and net2 train side by side
    walls = [wall for log in sorted((CHECKPOINTS / "logs").glob("hash_*.log")) if not log.name.endswith(".test.log")
             for wall in _walls(log)]
    pseudo = _walls(CHECKPOINTS / "logs" / "c2s_pseudo.log")
    notebooks = sum(n["default"]["seconds"] for n in budget["notebooks"].values() if "default" in n)
    rows = ["| step | command | time on the 2-core machine |", "|---|---|---|",
            "| dataset | `make data` (or `python data_scripts/download_ccp.py`) | download-bound |",
            f"| parsing networks, inference heights, CRF tuning, LR sweep | `bash checkpoints/train_parsing.sh` | "
            f"{parsing_hours:.1f} h of training (curves: effnet_fcn, then net1 beside net2), plus the sweep and evaluation |",
            "| consumer-to-shop set with pseudo-labelled photos | `python -m clothlib.parsing predict --checkpoint "
            "checkpoints/effnet_fcn.pt --crf --split tagged --out data/predictions/tagged` then "
            "`python data_scripts/build_c2s.py --predictions data/predictions/tagged` (the first step of `train_hashing.sh`) | "
            + (f"{sum(pseudo) / 60:.0f} min (`checkpoints/logs/c2s_pseudo.log`: parsing and CRF over 1,094 photos, then the build) |"
               if pseudo else "not recorded |"),
            "| hashing networks, baselines, end-to-end queries | `bash checkpoints/train_hashing.sh` | "
            + (f"{sum(walls) / 60:.0f} min for {len(walls)} trainings (logs; the first includes the backbone features), "
               "plus evaluation |" if walls else "not run yet |"),
            "| every notebook, default mode | `make course` | "
            + (f"{notebooks / 60:.0f} min (`benchmarks/course_budget.py`) |" if notebooks else "not measured |")]
    return "\n".join(rows)


SECTIONS = {
    "course-map": (README, course_map),
    "parsing-results": (README, parsing_results),
    "parsing-training": (CHECKPOINTS / "README.md", parsing_training),
    "hashing-results": (README, hashing_results),
    "retrieval-results": (README, retrieval_results),
    "hashing-training": (CHECKPOINTS / "README.md", hashing_training),
    "reproduce": (README, reproduce),
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
