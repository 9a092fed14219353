"""The lines that open every notebook's first code cell: in Colab, fetch and install the course first.

A notebook opened in Colab (its "Open in Colab" badge in the README) runs on a bare host: Colab's own
Python with its own torch, and no clothlib. ``clothlib`` cannot do the installing, since it is not
there yet, so the lines live in the notebook itself, the same in every notebook. Outside Colab they
define one function and return; in Colab they

- clone the repository into ``~/clothlib`` (the folder clothlib uses as its home when it is not an
  editable install; here it is both, so data, caches and checkpoints all live in the clone, on the
  session's disk, for the length of the session),
- ``pip install -e`` it with a constraints file pinning the torch and torchvision already installed,
  so pip keeps Colab's CUDA build instead of replacing it with another,
- fetch CCP into ``~/clothlib/data/ccp`` (``data_scripts/download_ccp.py``: verified, done once),
- make the editable install importable in the running kernel (no restart).

Environment variables make it testable off Colab (``make test-colab``): ``CLOTHLIB_COLAB=1`` acts as
if in Colab, ``CLOTHLIB_REPO`` is the git URL to clone (default: the GitHub repository that
pyproject.toml's ``[tool.clothlib.readme] repository`` names, the same setting that renders the
launch badges), ``CLOTHLIB_CCP_SOURCE`` a local CCP copy instead of the public archive.

    python tools/colab_bootstrap.py           # write the lines into every notebook (after changing the setting)
    python tools/colab_bootstrap.py --check   # exit 1 if a notebook's lines differ from the setting's
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from render_readme import launch_repository  # the one reader of the setting (tools/ is this script's folder)

from clothlib.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
MARK_END = "_bootstrap_colab()\n"  # the block's last line: what follows it is the notebook's own cell

TEMPLATE = '''\
# Colab only (elsewhere nothing happens): clone the course, install it beside Colab's own torch, fetch CCP.
def _bootstrap_colab(repository="{repository}"):
    import importlib.metadata, os, site, subprocess, sys, tempfile  # noqa: E401, I001
    if "google.colab" not in sys.modules and os.environ.get("CLOTHLIB_COLAB") != "1":
        return
    home, repository = os.path.expanduser("~/clothlib"), os.environ.get("CLOTHLIB_REPO", repository)
    if not os.path.isdir(home):
        if not repository:
            raise RuntimeError("this copy names no repository to clone: set CLOTHLIB_REPO to its git URL")
        subprocess.run(["git", "clone", "--depth=1", "--quiet", repository, home], check=True)
    pins = os.path.join(tempfile.gettempdir(), "clothlib-torch-pins.txt")  # pip keeps the torch that is here
    with open(pins, "w") as f:
        f.writelines(f"{{name}}=={{importlib.metadata.version(name)}}\\n" for name in ("torch", "torchvision"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-c", pins, "-e", home], check=True)
    source = os.environ.get("CLOTHLIB_CCP_SOURCE")
    subprocess.run([sys.executable, os.path.join(home, "data_scripts", "download_ccp.py"), "--quiet",
                    *(["--source", source] if source else [])], check=True)
    for folder in site.getsitepackages():  # the editable install, importable without a restart
        site.addsitedir(folder)


_bootstrap_colab()
'''


def block(owner_repo: str | None) -> str:
    """The bootstrap lines for ``owner_repo`` (GitHub), or with no default URL when there is none."""
    return TEMPLATE.format(repository=f"https://github.com/{owner_repo}.git" if owner_repo else "")


def first_code_cell(notebook: dict) -> dict:
    return next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")


def split_source(source: str) -> tuple[str, str]:
    """A first cell's (bootstrap block, the rest); the block is '' where the cell has none."""
    if source.startswith(TEMPLATE.splitlines(True)[0]) and MARK_END in source:
        end = source.index(MARK_END) + len(MARK_END)
        return source[:end], source[end:].lstrip("\n")
    return "", source


def with_block(source: str, lines: str) -> str:
    """``source`` (a first cell) with its bootstrap block replaced by (or starting with) ``lines``."""
    return f"{lines}\n{split_source(source)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report notebooks whose lines differ; write nothing")
    args = parser.parse_args(argv)
    lines = block(launch_repository(ROOT))
    stale = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        cell = first_code_cell(notebook)
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        wanted = with_block(source, lines)
        if wanted == source:
            continue
        stale.append(path.name)
        if not args.check:
            cell["source"] = wanted.splitlines(True)
            with atomic_write(path, "w") as f:
                f.write(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    if stale:
        print(("out of date (run `python tools/colab_bootstrap.py`): " if args.check else "rewrote: ")
              + ", ".join(stale))
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
