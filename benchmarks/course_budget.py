"""Execute every notebook in fast and default mode; print and record wall time and peak memory.

Each notebook runs in its own child process (a fresh kernel), so the peak resident memory of that
process tree is the notebook's own. Results go to benchmarks/results/course_budget.json, which
`python tools/render_readme.py` turns into the README's course map.

    python benchmarks/course_budget.py                 # all notebooks, both modes
    python benchmarks/course_budget.py --modes fast    # fast mode only
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from clothlib.io import atomic_write

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "course_budget.json"


def run_one(path: Path) -> dict:
    """Execute one notebook in this process's kernel child; report wall seconds and peak MiB."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    seconds = time.perf_counter() - start
    peak_kib = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return {"seconds": round(seconds, 1), "peak_mib": round(peak_kib / 1024)}


def import_baseline_mib() -> int:
    """Peak memory of a bare kernel's imports (torch, torchvision, matplotlib), for scale."""
    code = ("import resource, torch, torchvision.transforms.v2, matplotlib.pyplot; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    return round(int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                    text=True).stdout) / 1024)


def save(results: dict) -> None:
    with atomic_write(RESULTS) as f:
        json.dump(results, f, indent=2, sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--modes", nargs="+", choices=["fast", "default"], default=["fast", "default"])
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run a single notebook, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(Path(args.one))))
        return

    notebooks = [Path(p) for p in args.notebooks] or sorted((REPO / "notebooks").glob("*.ipynb"))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("notebooks", {})
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    for mode in args.modes:
        env = dict(os.environ, MPLBACKEND="Agg", CLOTHLIB_FAST="1" if mode == "fast" else "0")
        for path in notebooks:
            out = subprocess.run([sys.executable, __file__, "--one", str(path)], env=env, check=True,
                                 capture_output=True, text=True).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            results["notebooks"].setdefault(path.name, {})[mode] = figures
            print(f"{path.name:<45} {mode:<8} {figures['seconds']:>8.1f} s {figures['peak_mib']:>7} MiB peak",
                  flush=True)
            save(results)  # after every notebook, so an interrupted run keeps what it measured
    results["import_baseline_mib"] = import_baseline_mib()
    save(results)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
