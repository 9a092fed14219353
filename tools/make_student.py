"""Write the student edition of the course notebooks: solutions and answers removed, outputs cleared.

    python tools/make_student.py                         # every notebooks/*.ipynb -> build/student/ (make student)
    python tools/make_student.py notebooks/06_retrieval.ipynb --out /tmp/student

The source notebooks are the full edition and follow nbgrader's conventions, so an instructor can also
release and autograde them with ``nbgrader generate_assignment`` / ``nbgrader autograde``; this script
does what nbgrader's release does to the cells, with no database or course folder, and checks the same
metadata rules so that a notebook it accepts nbgrader accepts too:

- **Exercise code.** In a code cell whose metadata has ``"nbgrader": {"solution": true, "grade": false,
  "locked": false, "schema_version": 3, "grade_id": "..."}``, the lines from one containing
  ``BEGIN SOLUTION`` to one containing ``END SOLUTION`` (written ``### BEGIN SOLUTION``) become
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, at the indentation of the BEGIN line. The
  region must sit inside a function body: at top level the stub would stop the notebook there, and the
  student edition must run top to bottom (each check then says "not implemented yet").
- **Answers to the questions.** Each answer is its own markdown cell marked as nbgrader's *manually
  graded answer* (``"solution": true, "grade": true, "points": N``: nbgrader refuses a markdown
  solution cell that is not also graded); the whole cell becomes ``YOUR ANSWER HERE``, as nbgrader
  does for a solution cell without markers. (HTML-comment markers would stay invisible in the full
  edition but nbgrader would leave the answers in; one convention serves both tools.)
- **Hidden tests.** In a grade cell (an *autograder test*: ``"grade": true, "solution": false``), the
  lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` are removed. The course puts
  ``assert exercises.check_...(...)`` there: the full edition (and nbgrader's autograde, which restores
  the region) fails on a wrong solution, while the student edition only prints the check's hint.
- **Outputs** of every code cell are cleared; cell ids and everything else stay as they are.

A marker in a cell without the matching metadata, a nested or unclosed region, or a missing, invalid or
repeated ``grade_id`` is an error naming the notebook and the cell, as nbgrader's would be. Text that
merely *mentions* a marker counts as one (nbgrader matches substrings), so the notebooks never do.
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from clothlib.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "build" / "student"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")  # nbgrader's ClearSolutions.code_stub["python"]
TEXT_STUB = "YOUR ANSWER HERE"  # nbgrader's ClearSolutions.text_stub
SOLUTION = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_TESTS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")  # what nbgrader's CheckCellMetadata accepts


class MarkupError(ValueError):
    """A notebook's solution markup that nbgrader would refuse or that would stop the student edition."""


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _regions(lines: list[str], markers: tuple[str, str], where: str) -> list[tuple[int, int]]:
    """``(begin, end)`` line numbers of each marked region, or a MarkupError for nested/unclosed ones."""
    begin_marker, end_marker = markers
    regions, begin = [], None
    for number, line in enumerate(lines):
        if begin_marker in line:
            if begin is not None:
                raise MarkupError(f"{where}: nested {begin_marker!r} (line {number + 1})")
            begin = number
        elif end_marker in line:
            if begin is None:
                raise MarkupError(f"{where}: {end_marker!r} without {begin_marker!r} (line {number + 1})")
            regions.append((begin, number))
            begin = None
    if begin is not None:
        raise MarkupError(f"{where}: {begin_marker!r} (line {begin + 1}) has no {end_marker!r}")
    return regions


def _replace(lines: list[str], regions: list[tuple[int, int]], stub: tuple[str, ...]) -> list[str]:
    """``lines`` with each region replaced by ``stub`` at its BEGIN line's indentation (or removed)."""
    kept, start = [], 0
    for begin, end in regions:
        indent = re.match(r"\s*", lines[begin]).group(0)
        kept += lines[start:begin] + [indent + line for line in stub]
        start = end + 1
    return kept + lines[start:]


def _check_metadata(cell, where: str, grade_ids: set[str]) -> None:
    """nbgrader's CheckCellMetadata rules, so that ``nbgrader generate_assignment`` accepts the notebook."""
    meta = _nbgrader(cell)
    if not (meta.get("solution") or meta.get("grade")):
        return
    grade_id = meta.get("grade_id", "")
    if not GRADE_ID.match(grade_id):
        raise MarkupError(f"{where}: nbgrader cells need a grade_id of letters, digits, '_' or '-', got {grade_id!r}")
    if grade_id in grade_ids:
        raise MarkupError(f"{where}: grade_id {grade_id!r} is used twice in this notebook")
    grade_ids.add(grade_id)
    if meta.get("grade"):
        try:
            float(meta.get("points", ""))
        except (TypeError, ValueError):
            raise MarkupError(f"{where}: a grade cell needs numeric points, got {meta.get('points')!r}") from None
    if cell.cell_type == "markdown" and bool(meta.get("grade")) != bool(meta.get("solution")):
        raise MarkupError(f"{where}: a markdown answer cell must be both solution and grade (nbgrader's manually "
                          "graded answer)")


def student_cell(cell, where: str = "cell"):
    """The student's version of one cell (a new cell; ``cell`` is left alone)."""
    cell = copy.deepcopy(cell)
    meta = _nbgrader(cell)
    lines = cell.source.split("\n")
    solutions = _regions(lines, SOLUTION, where)
    hidden = _regions(lines, HIDDEN_TESTS, where)
    if solutions and not meta.get("solution"):
        raise MarkupError(f"{where}: a solution region in a cell that is not marked as a solution cell "
                          '(metadata "nbgrader": {"solution": true, ...})')
    if hidden and not meta.get("grade"):
        raise MarkupError(f"{where}: hidden tests in a cell that is not a grade cell (\"grade\": true, with points)")
    code = cell.cell_type == "code"
    if code and meta.get("solution") and (not solutions or any(not lines[b][:1].isspace() for b, _ in solutions)):
        raise MarkupError(f"{where}: the stub of a solution at top level (or of a whole solution cell) would stop "
                          "the student edition at this cell; put the BEGIN/END SOLUTION lines inside a function body")
    stub = CODE_STUB if code else (TEXT_STUB,)
    lines = list(stub) if meta.get("solution") and not solutions else _replace(lines, solutions, stub)
    cell.source = "\n".join(_replace(lines, _regions(lines, HIDDEN_TESTS, where), ()))
    if code:
        cell.outputs, cell.execution_count = [], None
    return cell


def student_notebook(notebook, name: str = "notebook"):
    """The student edition of a notebook (a new one): every cell through :func:`student_cell`."""
    notebook = copy.deepcopy(notebook)
    grade_ids: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        where = f"{name}, cell {index} (id {cell.get('id', '?')})"
        _check_metadata(cell, where, grade_ids)
        notebook.cells[index] = student_cell(cell, where)
    notebook.metadata.pop("celltoolbar", None)
    return notebook


def write_student_edition(sources: list[Path], out: Path = DEFAULT_OUT) -> list[Path]:
    """Write the student edition of each notebook in ``sources`` into ``out`` (same file names).
    Every notebook is converted before any is written, so a markup error leaves ``out`` untouched."""
    editions = [(Path(out) / Path(path).name, student_notebook(nbformat.read(path, as_version=4), Path(path).name))
                for path in sources]
    for target, notebook in editions:
        with atomic_write(target) as f:
            nbformat.write(notebook, f)
    return [target for target, _ in editions]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="source notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    sources = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    try:
        written = write_student_edition(sources, args.out)
    except MarkupError as error:
        print(f"make_student: {error}", file=sys.stderr)
        return 1
    print(f"student edition: {len(written)} notebooks in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
