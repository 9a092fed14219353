"""Colab's first cell, run for real on a simulated bare notebook host (`make test-colab`).

The host: a fresh virtual environment that has torch and torchvision (with what they need) and the test
runner (pytest, nbval, ipykernel), and nothing else; no clothlib. Those packages are this checkout's own
(``.venv``), exposed read-only through a ``.pth`` file, as Colab's preinstalled ones are: pip sees them as
installed but outside its environment, so it could never remove them, only install another torch beside
them, which is what this checks it does not do.

Notebook 00 of the working tree then runs under nbval with ``CLOTHLIB_COLAB=1``: its first lines clone the
repository (``CLOTHLIB_REPO``: this checkout's committed state, through a ``file://`` URL) into the host's
``~/clothlib``, install it with torch pinned, fetch CCP (``--ccp-source``: a local copy, else the public
archive) and the rest of the notebook runs on that install. Afterwards:

- ``import torch`` in the host still loads this checkout's torch, whose files were not touched (same path
  and modification time), no torch went into the host's own site-packages, and pip's log (``PIP_LOG``) never
  collected torch or torchvision;
- ``import clothlib`` loads the clone.

    python tools/simulate_colab.py [--ccp-source DIR] [--keep]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
HOST_PACKAGES = ("torch", "torchvision", "pytest", "nbval", "ipykernel")  # what the bare host has
NOTEBOOK = ROOT / "notebooks" / "00_setup.ipynb"
PINNED = ("torch", "torchvision")


def closure(roots: tuple[str, ...]) -> dict[str, metadata.Distribution]:
    """The installed distributions ``roots`` need, recursively, with the extras asked for along the way
    (torch's ``cuda-toolkit[cublas, ...]``: the CUDA libraries a CUDA build of torch comes with)."""
    found: dict[str, metadata.Distribution] = {}
    extras: dict[str, set[str]] = {}
    todo = [(root, frozenset()) for root in roots]
    while todo:
        raw, wanted = todo.pop()
        name = re.sub(r"[-_.]+", "-", raw).lower()
        if name in found and wanted <= extras[name]:
            continue
        try:
            dist = found.get(name) or metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional or platform-specific requirement not installed here
        found[name] = dist
        extras[name] = extras.get(name, set()) | wanted
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or any(requirement.marker.evaluate({"extra": extra})
                                                 for extra in ("", *wanted)):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return found


def expose(dists: dict[str, metadata.Distribution], folder: Path) -> None:
    """Link every top-level file and folder of ``dists`` (code and ``.dist-info``) into ``folder``."""
    folder.mkdir(parents=True)
    for dist in dists.values():
        base = Path(dist.locate_file(""))
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            source = base / top
            if top != ".." and source.exists() and not (folder / top).exists():
                (folder / top).symlink_to(source)


def host_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    print("$", " ".join(map(str, command)), flush=True)
    return subprocess.run([str(c) for c in command], check=True, **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ccp-source", help="a local CCP copy for the host to fetch (default: the public archive)")
    parser.add_argument("--keep", action="store_true", help="keep the host's folder (printed) afterwards")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="clothlib-colab-"))
    try:
        venv, home, run_dir, pip_log = work / "venv", work / "home", work / "run", work / "pip.log"
        run([sys.executable, "-m", "venv", venv])
        site_packages = Path(subprocess.run(
            [host_python(venv), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True).stdout.strip())
        dists = closure(HOST_PACKAGES)
        expose(dists, work / "preinstalled")
        (site_packages / "preinstalled.pth").write_text(f"{work / 'preinstalled'}\n")
        torch_file = Path(metadata.distribution("torch").locate_file("torch/__init__.py")).resolve()
        before = torch_file.stat().st_mtime_ns
        print(f"host: {len(dists)} preinstalled distributions ({', '.join(HOST_PACKAGES)} and what they need)")

        home.mkdir()
        run_dir.mkdir()
        shutil.copy(NOTEBOOK, run_dir / NOTEBOOK.name)
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("CLOTHLIB_", "VIRTUAL_ENV", "PYTHON", "CONDA"))}
        env.update(HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", CLOTHLIB_COLAB="1",
                   CLOTHLIB_REPO=ROOT.as_uri(), CLOTHLIB_FAST="1", MPLBACKEND="Agg", PIP_LOG=str(pip_log),
                   PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")))
        if args.ccp_source:
            env["CLOTHLIB_CCP_SOURCE"] = str(Path(args.ccp_source).resolve())
        run([host_python(venv), "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
             "-q", NOTEBOOK.name], cwd=run_dir, env=env)

        failures = []
        where = subprocess.run([host_python(venv), "-c", "import clothlib, torch; print(torch.__file__); "
                                "print(clothlib.__file__)"], cwd=work, env=env, check=True, capture_output=True,
                               text=True).stdout.split()
        if Path(where[0]).resolve() != torch_file or torch_file.stat().st_mtime_ns != before:
            failures.append(f"the host's torch is now {where[0]}, not the preinstalled {torch_file} (untouched)")
        for name in PINNED:
            if any(site_packages.glob(f"{name}-*.dist-info")) or (site_packages / name).exists():
                failures.append(f"pip installed a second {name} into {site_packages}")
        log = pip_log.read_text() if pip_log.exists() else ""
        if not log:
            failures.append(f"pip wrote no log to {pip_log}: did the first cell run pip?")
        for line in log.splitlines():
            if re.search(r"Collecting (torch|torchvision)\b|Installing collected packages:.*\btorch(vision)?\b", line):
                failures.append(f"pip's log: {line.strip()}")
        if not Path(where[1]).resolve().is_relative_to((home / "clothlib").resolve()):
            failures.append(f"clothlib was imported from {where[1]}, not the clone in {home / 'clothlib'}")
        for failure in failures:
            print("FAIL:", failure)
        if not failures:
            print(f"Colab simulation passed in {time.perf_counter() - started:.0f} s: notebook 00 ran on the clone, "
                  f"torch {metadata.version('torch')} kept ({torch_file})")
        return 1 if failures else 0
    finally:
        if args.keep:
            print("kept:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
