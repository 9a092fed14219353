"""book/assemble.py, the course site's layout (``make book``): widgets become a note, progress bars go,
links to files the site does not hold become plain paths, and unexecuted notebooks are refused.
The built site itself is checked in a browser (tests/browser/test_book.py)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("assemble", REPO / "book" / "assemble.py")
assemble = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(assemble)


def widget_output(text: str) -> dict:
    return nbformat.v4.new_output("display_data", data={assemble.WIDGET_MIME: {"model_id": "abc", "version_major": 2},
                                                        "text/plain": text})


def test_widgets_become_a_note_and_progress_bars_go():
    figure = nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})
    outputs = [widget_output("100%|██████████| 40/40 [00:03<00:00, 12.1it/s]"), figure,
               widget_output("VBox(children=(HBox(children=(IntSlider(value=0),)),))")]
    kept = assemble.widget_free(outputs)
    assert kept[0] is figure and len(kept) == 2
    assert kept[1]["data"] == {"text/markdown": assemble.WIDGET_NOTE}


def test_links_outside_the_site_become_plain_paths():
    readme = REPO / "README.md"
    site = {readme, REPO / "notebooks" / "06_retrieval.ipynb", REPO / "docs" / "instructor_guide.md"}
    text = ("See [notebook 06](notebooks/06_retrieval.ipynb), [the guide](docs/instructor_guide.md#sessions), "
            "[the script](benchmarks/pipeline_speed.py), [`checkpoints/README.md`](checkpoints/README.md), "
            "[the paper](https://example.org/paper.pdf), [above](#results) and ![a badge](badge.svg).")
    out = assemble.plain_dead_links(text, readme, site)
    assert "[notebook 06](notebooks/06_retrieval.ipynb)" in out
    assert "[the guide](docs/instructor_guide.md#sessions)" in out
    assert "the script (`benchmarks/pipeline_speed.py` in the repository)" in out
    assert "`checkpoints/README.md`" in out and "](checkpoints/README.md)" not in out
    assert "[the paper](https://example.org/paper.pdf)" in out and "[above](#results)" in out
    assert "![a badge](badge.svg)" in out, "images are left to the site's own check"


def test_notebook_links_resolve_from_the_notebooks_folder():
    notebook = REPO / "notebooks" / "03_dense_crf.ipynb"
    guide = REPO / "docs" / "differences_from_paper.md"
    text = "[the table](../docs/differences_from_paper.md)"
    assert assemble.plain_dead_links(text, notebook, {notebook, guide}) == text


def test_unexecuted_notebooks_are_refused(tmp_path):
    executed = tmp_path / "executed"
    executed.mkdir()
    for source in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(source, as_version=4)
        nbformat.write(nb, executed / source.name)  # committed without outputs: as if never run
    with pytest.raises(SystemExit, match="no outputs: it was not executed"):
        assemble.assemble(executed, tmp_path / "src")
    with pytest.raises(SystemExit, match="run `make course`"):
        assemble.assemble(tmp_path / "nowhere", tmp_path / "src")
