"""Course conventions every committed notebook keeps (nbval then executes them in fast mode)."""
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_setup.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} carry outputs; clear them "
                       "(Jupyter: Edit > Clear Outputs of All Cells)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_starts_with_version_check_and_seed(path):
    nb = nbformat.read(path, as_version=4)
    first = next(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "clothlib.require(" in first and "clothlib.set_seed(" in first
    assert all("sys.path" not in cell.source for cell in nb.cells), "notebooks import the installed clothlib"


# A branch on the mode: `if settings.fast`, `if not clothlib.settings.fast`, `x if settings.fast else y`.
MODE_BRANCH = re.compile(r"\b(if|elif|while)\s+(not\s+)?[\w.]*settings\.fast\b|settings\.fast\s+else\b")


def _mode_branches(source: str) -> list[str]:
    lines = (line.strip() for line in source.splitlines())
    return [line for line in lines if MODE_BRANCH.search(line) and not line.startswith("#")]


def test_mode_branch_pattern():
    """The check itself: it sees the branches DESIGN.md forbids and leaves printing the mode alone."""
    assert _mode_branches("if settings.fast:\n    x = 1")
    assert _mode_branches("if not clothlib.settings.fast:\n    pass")
    assert _mode_branches("n = 8 if settings.fast else 200")
    assert not _mode_branches('print("fast mode:", settings.fast)\nn = settings.pick(8, 200)')


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_fast_mode_changes_sizes_not_code_paths(path):
    """Fast mode changes sizes only (settings.pick / settings.subset): the cells students run in default
    mode are the cells CI runs in fast mode."""
    nb = nbformat.read(path, as_version=4)
    branches = [line for cell in nb.cells if cell.cell_type == "code" for line in _mode_branches(cell.source)]
    assert not branches, f"{path.name} branches on the mode: {branches}; use settings.pick(fast, full)"
