"""Execute every notebook in fast and default mode, twice: record wall time and peak memory of a first run
from a cold cache and of a second run with the caches that first run built.

A notebook's first run on a fresh clone does more than a re-run: it decodes the CCP masks it reads into
the cache folder, builds the consumer-to-shop set (notebooks 04-07), computes backbone features and trains
the small demo runs it keeps there. So each notebook, in each mode, runs

1. **cold**: with an empty cache folder (``CLOTHLIB_CACHE``) and a data folder whose ``ccp/`` links to the
   real dataset but holds no consumer-to-shop set beside it (``CLOTHLIB_DATA``), so everything the notebook
   builds on first use is built inside the run, whichever notebook a student opens first (the tag-only
   photos' predictions, where they exist, are linked too, so the set built is the course's own);
2. **warm**: again, at once, with what the cold run built (a student re-running it; on Binder, whose
   ``postBuild`` builds the set and the test features at build time, notebooks 04-07 start close to this).

Each run is its own child process with a fresh kernel, so the peak resident memory of that process tree
is the notebook's own. The dataset and the shipped checkpoints are only read; the cold folders are
temporary and removed after the warm run. Results go to ``benchmarks/results/course_budget.json``:
``notebooks[name][mode]`` holds ``seconds`` and ``peak_mib`` of the cold run and ``warm`` with the same two
of the second run; ``python tools/render_readme.py`` turns them into the README's course map.

    python benchmarks/course_budget.py                       # all notebooks, both modes (long: see the map)
    python benchmarks/course_budget.py --modes fast          # fast mode only
    python benchmarks/course_budget.py notebooks/00_setup.ipynb --out /tmp/budget.json   # one, elsewhere
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from clothlib.io import atomic_write
from clothlib.results import artifact_path

REPO = Path(__file__).resolve().parents[1]
RESULTS = artifact_path("benchmark", REPO / "benchmarks" / "results", benchmark="course_budget")


def poll_replies_in_slices() -> None:
    """Apply ``make course``'s fix (book/execute.py, imported for its side effect): the kernel client's reply
    waits polled once a second, so a missed ZeroMQ wake-up cannot stall a widget cell for its whole timeout
    and count that stall as the notebook's time."""
    spec = importlib.util.spec_from_file_location("book_execute", REPO / "book" / "execute.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def run_one(path: Path) -> dict:
    """Execute one notebook in this process's kernel child; report wall seconds and peak MiB."""
    poll_replies_in_slices()
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    seconds = time.perf_counter() - start
    peak_kib = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return {"seconds": round(seconds, 1), "peak_mib": round(peak_kib / 1024)}


def cold_folders(root: Path) -> dict[str, str]:
    """Environment for a cold run under ``root``: an empty cache, and ``root/data/ccp`` linking every entry
    of the real dataset (``data/c2s`` is built beside it on first use, never the real one touched)."""
    from clothlib import settings  # here, not at the top: the ``--one`` child stays free of the package's imports
    from clothlib.data.c2s import default_predictions

    ccp = root / "data" / "ccp"
    ccp.mkdir(parents=True)
    for entry in settings.data_root.iterdir():
        (ccp / entry.name).symlink_to(entry)
    if default_predictions().is_dir():
        (root / "data" / "predictions").mkdir()
        (root / "data" / "predictions" / "tagged").symlink_to(default_predictions())
    (root / "cache").mkdir()
    return {"CLOTHLIB_DATA": str(ccp), "CLOTHLIB_CACHE": str(root / "cache")}


def measure(path: Path, env: dict[str, str]) -> dict:
    """Run ``path`` in a child process under ``env``; its figures, or a clear error with the kernel's last words."""
    done = subprocess.run([sys.executable, __file__, "--one", str(path)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{path.name} failed (CLOTHLIB_FAST={env['CLOTHLIB_FAST']}); the last lines it wrote:\n"
                 + "\n".join(done.stderr.strip().splitlines()[-25:]))
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_baseline_mib() -> int:
    """Peak memory of a bare kernel's imports (torch, torchvision, matplotlib), for scale."""
    code = ("import resource, torch, torchvision.transforms.v2, matplotlib.pyplot; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    return round(int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                    text=True).stdout) / 1024)


def save(results: dict, out: Path) -> None:
    with atomic_write(out) as f:
        json.dump(results, f, indent=2, sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--modes", nargs="+", choices=["fast", "default"], default=["fast", "default"])
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file to update (default: %(default)s)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run a single notebook, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(Path(args.one))))
        return

    notebooks = [Path(p).resolve() for p in args.notebooks] or sorted((REPO / "notebooks").glob("*.ipynb"))
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results.setdefault("notebooks", {})
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    results["runs"] = ("seconds and peak_mib: a first run from a cold cache (masks decoded, consumer-to-shop set, "
                       "features and demo runs built inside it); warm: the same notebook run again at once")
    for mode in args.modes:
        for path in notebooks:
            with tempfile.TemporaryDirectory(prefix="course_budget_") as root:
                env = dict(os.environ, MPLBACKEND="Agg", CLOTHLIB_FAST="1" if mode == "fast" else "0",
                           **cold_folders(Path(root)))
                cold = measure(path, env)
                warm = measure(path, env)
            results["notebooks"].setdefault(path.name, {})[mode] = {**cold, "warm": warm}
            print(f"{path.name:<45} {mode:<8} cold {cold['seconds']:>7.1f} s {cold['peak_mib']:>6} MiB | "
                  f"warm {warm['seconds']:>7.1f} s {warm['peak_mib']:>6} MiB", flush=True)
            save(results, args.out)  # after every notebook, so an interrupted run keeps what it measured
    results["import_baseline_mib"] = import_baseline_mib()
    save(results, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
