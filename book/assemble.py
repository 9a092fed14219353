"""Lay out the course site's sources for Sphinx (``make book``): the README as the front page, the
executed notebooks (``make course`` writes them to build/) and the guides in docs/.

    python book/assemble.py --executed build --out build/book/src

What changes on the way, and why:
- a widget's output becomes a short note: a static page has no kernel to answer a slider, and each
  explorer has a static figure beside it; a finished progress bar is dropped;
- the notebooks' saved widget state is dropped, so the site loads no widget scripts from a CDN;
- a relative link to a file the site does not hold (a script, a results file) becomes its path in
  plain text instead of a broken link.
Executed notebooks are required: building a site from unexecuted ones would publish empty pages.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("*An interactive widget sits here when the notebook runs in JupyterLab or on Binder: a static page "
               "has no kernel to answer it. Each explorer comes with a static figure nearby.*")
PROGRESS_BAR = re.compile(r"\d+%\|")  # tqdm's text form: " 45%|████▌     | 18/40 [00:03<00:04, 5.1it/s]"
LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")


def widget_free(outputs: list) -> list:
    """``outputs`` with each widget view replaced by the note, progress bars dropped."""
    kept = []
    for output in outputs:
        data = output.get("data", {})
        if WIDGET_MIME not in data:
            kept.append(output)
        elif not PROGRESS_BAR.search(data.get("text/plain", "")):
            kept.append(nbformat.v4.new_output("display_data", data={"text/markdown": WIDGET_NOTE}))
    return kept


def plain_dead_links(markdown: str, source: Path, site: set[Path]) -> str:
    """Relative links to files outside the site, as their repository path in code (``path``)."""
    def replace(match: re.Match) -> str:
        text, target = match.groups()
        if re.match(r"[a-z]+:|#|/", target):
            return match.group(0)
        path = (source.parent / target.split("#")[0]).resolve()
        if path in site:
            return match.group(0)
        try:
            shown = path.relative_to(REPO)
        except ValueError:
            shown = Path(target)
        return f"{text} (`{shown}` in the repository)" if text.strip("`") != str(shown) else f"`{shown}`"
    return LINK.sub(replace, markdown)


def assemble(executed: Path, out: Path) -> list[Path]:
    """Write the site's sources into ``out``; return the notebook pages written."""
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    missing = [nb.name for nb in notebooks if not (executed / nb.name).exists()]
    if missing:
        raise SystemExit(f"no executed notebook in {executed} for {', '.join(missing)}: run `make course` "
                         "(or `make book`, which runs it) first")
    guides = sorted((REPO / "docs").glob("*.md"))
    site = {REPO / "README.md", *notebooks, *guides}
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    (out / "docs").mkdir()
    pages = []
    for notebook in notebooks:
        nb = nbformat.read(executed / notebook.name, as_version=4)
        if not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"):
            raise SystemExit(f"{executed / notebook.name} has no outputs: it was not executed (`make course`)")
        nb.metadata.pop("widgets", None)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = widget_free(cell.outputs)
            elif cell.cell_type == "markdown":
                cell.source = plain_dead_links(cell.source, notebook, site)
        nbformat.write(nb, out / "notebooks" / notebook.name)
        pages.append(out / "notebooks" / notebook.name)
    for guide in guides:
        (out / "docs" / guide.name).write_text(plain_dead_links(guide.read_text(), guide, site))
    toc = ["", "```{toctree}", ":hidden:", ":caption: Notebooks", ""]
    toc += [f"notebooks/{nb.stem}" for nb in notebooks] + ["```", ""]
    toc += ["```{toctree}", ":hidden:", ":caption: Guides", ""] + [f"docs/{g.stem}" for g in guides] + ["```", ""]
    readme = plain_dead_links((REPO / "README.md").read_text(), REPO / "README.md", site)
    (out / "index.md").write_text(readme.rstrip() + "\n" + "\n".join(toc))
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executed", type=Path, default=REPO / "build", help="folder of executed notebooks")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "book" / "src")
    args = parser.parse_args(argv)
    pages = assemble(args.executed.resolve(), args.out.resolve())
    print(f"{len(pages)} notebooks and the README laid out in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
