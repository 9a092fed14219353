"""Write the student edition of the course notebooks: solutions and answers removed, outputs cleared.

    python tools/make_student.py                         # every notebooks/*.ipynb -> build/student/ (make student)
    python tools/make_student.py notebooks/06_retrieval.ipynb --out /tmp/student
    python tools/make_student.py --answers docs/model_answers.md   # the instructor's answer sheet

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

- **Points** (:func:`course_points`, the course's rule; ``tests/test_student_edition.py`` checks every
  notebook follows it): a check cell is worth one point per two lines of its exercise's solution
  (rounded up: the one-line ``top_k`` 1, the Lovász gradient 3, the whole eq. 4 loss 5), a closing
  question's answer 1, an open question's answer 3 (it asks for a run and its reading).

The **answer sheet** (``--answers``, committed as ``docs/model_answers.md``; a test keeps it equal to the
notebooks) gathers every model answer of the full edition under its question, with each notebook's
graded cells and their points: the instructor's guide links to it, and the student edition never
contains it.

A marker in a cell without the matching metadata, a nested or unclosed region, or a missing, invalid or
repeated ``grade_id`` is an error naming the notebook and the cell, as nbgrader's would be. Text that
merely *mentions* a marker counts as one (nbgrader matches substrings), so the notebooks never do.
"""
from __future__ import annotations

import argparse
import copy
import math
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
QUESTION_POINTS, OPEN_QUESTION_POINTS = 1, 3
CHECK_SUFFIX = "_check"  # a check cell's grade_id is its solution cell's plus this


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


def solution_lines(cell) -> int:
    """Non-blank lines between a code cell's BEGIN and END SOLUTION markers: the size of its exercise."""
    lines = cell.source.split("\n")
    return sum(1 for begin, end in _regions(lines, SOLUTION, "cell") for line in lines[begin + 1:end] if line.strip())


def course_points(notebook) -> dict[str, float]:
    """The points each graded cell of a course notebook should carry, by grade_id: a check cell one per
    two lines of its solution (rounded up), so the weight follows the exercise's size; a closing
    question's answer (``nbNN_qK``) QUESTION_POINTS; an open question's (``nbNN_openK``)
    OPEN_QUESTION_POINTS. A graded cell the rule does not cover is a MarkupError."""
    solutions = {_nbgrader(cell)["grade_id"]: solution_lines(cell) for cell in notebook.cells
                 if cell.cell_type == "code" and _nbgrader(cell).get("solution")}
    points = {}
    for cell in notebook.cells:
        grade_id = _nbgrader(cell).get("grade_id", "")
        if not _nbgrader(cell).get("grade"):
            continue
        if cell.cell_type == "code" and grade_id.endswith(CHECK_SUFFIX) and grade_id[:-len(CHECK_SUFFIX)] in solutions:
            points[grade_id] = math.ceil(solutions[grade_id[:-len(CHECK_SUFFIX)]] / 2)
        elif cell.cell_type == "markdown" and re.fullmatch(r"nb\d\d_q\d+", grade_id):
            points[grade_id] = QUESTION_POINTS
        elif cell.cell_type == "markdown" and re.fullmatch(r"nb\d\d_open\d+", grade_id):
            points[grade_id] = OPEN_QUESTION_POINTS
        else:
            raise MarkupError(f"{grade_id!r}: a graded cell the points rule does not cover (a check cell's grade_id "
                              f"is its solution's plus {CHECK_SUFFIX!r}; answers are nbNN_qK or nbNN_openK)")
    return points


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


ANSWERS = ROOT / "docs" / "model_answers.md"
ANSWERS_COMMAND = "python tools/make_student.py --answers docs/model_answers.md"


def answer_sheet(sources: list[Path]) -> str:
    """Markdown: per notebook, its graded cells with their points, then each model answer under the
    markdown cell before it (its question). Made from the full edition, so it is never stale."""
    parts = [f"# Model answers and points\n\nGenerated from the full edition by `{ANSWERS_COMMAND}` (do not edit: "
             "edit the notebooks' answer cells and run it again). Students never see this page: the student edition "
             "replaces every answer by `YOUR ANSWER HERE`. Points follow the rule of `tools/make_student.py` "
             "(`course_points`); how to grade the answers is in the [instructor's guide](instructor_guide.md)."]
    for path in sources:
        notebook = nbformat.read(path, as_version=4)
        title = next((cell.source.split("\n")[0].lstrip("# ") for cell in notebook.cells
                      if cell.cell_type == "markdown" and cell.source.startswith("# ")), Path(path).stem)
        points = course_points(notebook)
        if not points:
            continue
        rows = ["| graded cell | kind | points |", "|---|---|---|"]
        for grade_id, value in points.items():
            kind = ("exercise check" if grade_id.endswith(CHECK_SUFFIX) else
                    "open question" if "_open" in grade_id else "question")
            rows.append(f"| `{grade_id}` | {kind} | {value:g} |")
        parts.append(f"## {title}\n\n`notebooks/{Path(path).name}`: {sum(points.values()):g} points.\n\n"
                     + "\n".join(rows))
        for index, cell in enumerate(notebook.cells):
            meta = _nbgrader(cell)
            if cell.cell_type == "markdown" and meta.get("solution") and meta.get("grade"):
                question = notebook.cells[index - 1].source.strip() if index else ""
                parts.append(f"{question}\n\n> " + cell.source.strip().replace("\n", "\n> "))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="source notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--answers", type=Path, help="write the answer sheet (model answers and points) here instead")
    args = parser.parse_args(argv)
    sources = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    try:
        if args.answers:
            with atomic_write(args.answers) as f:
                f.write(answer_sheet(sources))
            print(f"answer sheet: {args.answers}")
            return 0
        written = write_student_edition(sources, args.out)
    except MarkupError as error:
        print(f"make_student: {error}", file=sys.stderr)
        return 1
    print(f"student edition: {len(written)} notebooks in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
