"""tools/make_student.py: the student edition loses solutions, answers, hidden tests and outputs, keeps
everything else, runs top to bottom, and refuses markup that nbgrader would refuse."""
import contextlib
import importlib.util
import io
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_student", ROOT / "tools" / "make_student.py")
make_student = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_student)

IMPORTS = "import numpy as np\n\nfrom clothlib import exercises"
SOLUTION = '''def top_k(distances, k):
    """The k nearest gallery items of each query, ties in gallery order."""
    ### BEGIN SOLUTION
    order = np.argsort(distances, axis=1, kind="stable")
    return order[:, :k]
    ### END SOLUTION'''
CHECK = '''exercises.check_top_k(top_k)
### BEGIN HIDDEN TESTS
assert exercises.check_top_k(top_k), "top_k is not right yet"
### END HIDDEN TESTS'''
ANSWER = "**Answer.** Ties are broken by gallery order, so top-1 depends on it."


def _nbgrader(grade_id: str, solution: bool, grade: bool, points: float | None = None) -> dict:
    meta = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": not solution, "schema_version": 3}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def synthetic_notebook():
    return new_notebook(cells=[
        new_markdown_cell("# 06 · Retrieval\n\nWrite `top_k`, then run the check."),
        new_code_cell(IMPORTS, outputs=[new_output("stream", name="stdout", text="imported\n")], execution_count=1),
        new_code_cell(SOLUTION, metadata=_nbgrader("nb06_top_k", solution=True, grade=False)),
        new_code_cell(CHECK, metadata=_nbgrader("nb06_top_k_check", solution=False, grade=True, points=1),
                      outputs=[new_output("stream", name="stdout", text="✓ check_top_k: correct\n")],
                      execution_count=2),
        new_markdown_cell("**Question 1.** Why can top-1 change when the gallery is shuffled?"),
        new_markdown_cell(ANSWER, metadata=_nbgrader("nb06_q1", solution=True, grade=True, points=1)),
        new_code_cell("from clothlib import retrieval\n\n"
                      "ranking = retrieval.rank_rows(np.array([[2, 1, 1]]), 2)  # the library's version\n"
                      "print('the rest still runs')"),
    ])


def test_solutions_answers_hidden_tests_and_outputs_are_removed():
    source = synthetic_notebook()
    student = make_student.student_notebook(source, "synthetic")
    solution, check, answer = student.cells[2], student.cells[3], student.cells[5]
    assert "BEGIN SOLUTION" not in solution.source and "argsort" not in solution.source
    assert solution.source == ('def top_k(distances, k):\n    """The k nearest gallery items of each query, ties in '
                               'gallery order."""\n    # YOUR CODE HERE\n    raise NotImplementedError()')
    assert check.source == "exercises.check_top_k(top_k)", "the hidden assert is gone, the check stays"
    assert answer.source == "YOUR ANSWER HERE"
    assert all(cell.outputs == [] and cell.execution_count is None
               for cell in student.cells if cell.cell_type == "code")
    assert "argsort" in source.cells[2].source and source.cells[3].outputs, "the source notebook is not changed"


def test_everything_else_is_untouched():
    source = synthetic_notebook()
    student = make_student.student_notebook(source, "synthetic")
    assert [cell.id for cell in student.cells] == [cell.id for cell in source.cells]
    for index in (0, 1, 4, 6):
        assert student.cells[index].source == source.cells[index].source
    assert [cell.metadata for cell in student.cells] == [cell.metadata for cell in source.cells]


def test_a_notebook_without_markers_is_unchanged():
    plain = new_notebook(cells=[new_markdown_cell("# Setup"), new_code_cell("x = 1\nprint(x)")])
    assert make_student.student_notebook(plain, "plain") == plain


def test_the_student_edition_runs_top_to_bottom_and_the_check_says_not_implemented_yet():
    student = make_student.student_notebook(synthetic_notebook(), "synthetic")
    namespace, printed = {}, io.StringIO()
    with contextlib.redirect_stdout(printed):
        for cell in student.cells:
            if cell.cell_type == "code":
                exec(cell.source, namespace)  # noqa: S102 - the notebook's own cells, in order
    assert "not implemented yet" in printed.getvalue() and "the rest still runs" in printed.getvalue()
    with pytest.raises(NotImplementedError):
        namespace["top_k"](None, 1)


def test_the_full_edition_passes_its_hidden_test():
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in synthetic_notebook().cells:
            if cell.cell_type == "code":
                exec(cell.source, namespace)  # noqa: S102 - the assert in the hidden region must hold


def _with(cell_index: int, source: str | None = None, metadata: dict | None = None):
    notebook = synthetic_notebook()
    if source is not None:
        notebook.cells[cell_index].source = source
    if metadata is not None:
        notebook.cells[cell_index].metadata = metadata
    return notebook


@pytest.mark.parametrize("notebook, message", [
    (_with(1, IMPORTS + "\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION"), "not marked as a solution cell"),
    (_with(2, "### BEGIN SOLUTION\ntop_k = None\n### END SOLUTION"), "top level"),
    (_with(2, "top_k = None"), "whole solution cell"),
    (_with(2, SOLUTION.replace("    ### END SOLUTION", "")), "has no"),
    (_with(2, SOLUTION.replace("    order", "    ### BEGIN SOLUTION\n    order")), "nested"),
    (_with(1, IMPORTS + "\n### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"), "not a grade cell"),
    (_with(3, metadata=_nbgrader("nb06_top_k", solution=False, grade=True, points=1)), "used twice"),
    (_with(3, metadata=_nbgrader("nb06 check", solution=False, grade=True, points=1)), "grade_id"),
    (_with(3, metadata=_nbgrader("nb06_check", solution=False, grade=True)), "numeric points"),
    (_with(5, metadata=_nbgrader("nb06_q1", solution=True, grade=False)), "both solution and grade"),
], ids=["region-outside-solution-cell", "top-level-region", "whole-code-cell", "unclosed", "nested",
        "hidden-outside-grade-cell", "duplicate-grade-id", "invalid-grade-id", "no-points", "markdown-not-graded"])
def test_markup_nbgrader_would_refuse_is_an_error_naming_the_cell(notebook, message):
    with pytest.raises(make_student.MarkupError, match=message) as error:
        make_student.student_notebook(notebook, "synthetic.ipynb")
    assert "synthetic.ipynb, cell" in str(error.value)


def test_the_command_writes_the_edition_and_writes_nothing_on_an_error(tmp_path, capsys):
    good, bad = tmp_path / "06_good.ipynb", tmp_path / "07_bad.ipynb"
    nbformat.write(synthetic_notebook(), good)
    nbformat.write(_with(2, "top_k = None"), bad)
    out = tmp_path / "student"
    assert make_student.main([str(good), "--out", str(out)]) == 0
    written = json.loads((out / good.name).read_text())
    assert "NotImplementedError" in "".join(written["cells"][2]["source"])
    nbformat.validate(nbformat.read(out / good.name, as_version=4))
    assert make_student.main([str(good), str(bad), "--out", str(tmp_path / "other")]) == 1
    assert not (tmp_path / "other").exists() and "07_bad.ipynb" in capsys.readouterr().err


def test_every_course_notebook_converts():
    """The course's own markup stays valid as exercises are added (reads the notebooks, runs nothing)."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        make_student.student_notebook(nbformat.read(path, as_version=4), path.name)


def test_nbgrader_makes_the_same_student_cells():
    """Where nbgrader is installed (an instructor's machine), its release preprocessors agree."""
    pytest.importorskip("nbgrader")
    from nbgrader.preprocessors import CheckCellMetadata, ClearHiddenTests, ClearOutput, ClearSolutions

    notebook = synthetic_notebook()
    resources = {}
    for preprocessor in (CheckCellMetadata(), ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        notebook, resources = preprocessor.preprocess(notebook, resources)
    ours = make_student.student_notebook(synthetic_notebook(), "synthetic")
    assert [cell.source for cell in ours.cells] == [cell.source for cell in notebook.cells]


def test_the_points_rule_weighs_a_check_by_its_solution_s_size():
    notebook = synthetic_notebook()
    assert make_student.course_points(notebook) == {"nb06_top_k_check": 1, "nb06_q1": 1}, "2 solution lines: 1 point"
    longer = SOLUTION.replace("    return order[:, :k]", "    order = order[:, :k]\n\n    kept = order.copy()\n"
                                                          "    return kept")
    notebook.cells[2].source = longer  # 4 non-blank lines (the blank one does not count)
    notebook.cells.append(new_markdown_cell("An answer", metadata=_nbgrader("nb06_open3", solution=True, grade=True,
                                                                            points=3)))
    assert make_student.course_points(notebook) == {"nb06_top_k_check": 2, "nb06_q1": 1, "nb06_open3": 3}
    notebook.cells[3].metadata["nbgrader"]["grade_id"] = "nb06_unpaired"
    with pytest.raises(make_student.MarkupError, match="points rule"):
        make_student.course_points(notebook)


def test_every_course_notebook_s_points_follow_the_rule():
    """Points weigh exercises by size (nbgrader's default, 1 a cell, made the one-line top_k worth the
    Lovász gradient); every open question has a graded model answer."""
    points = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        written = {cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"]["points"]
                   for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")}
        assert written == make_student.course_points(notebook), path.name
        opens = sum(len(re.findall(r"^\d+\. \*Open question\.\*", cell.source, re.M))
                    for cell in notebook.cells if cell.cell_type == "markdown")
        answers = [grade_id for grade_id in written if "_open" in grade_id]
        assert len(answers) == opens, f"{path.name}: {opens} open questions, {len(answers)} model answers"
        points.update(written)
    assert points["nb06_top_k_check"] < points["nb02_lovasz_gradient_check"] < points["nb05_dsh_loss_check"]


def test_the_answer_sheet_is_the_notebooks_model_answers():
    sources = sorted((ROOT / "notebooks").glob("*.ipynb"))
    sheet = make_student.answer_sheet(sources)
    assert make_student.ANSWERS.read_text() == sheet, f"the answer sheet is stale: run {make_student.ANSWERS_COMMAND}"
    answers = [cell.source.strip() for path in sources for cell in nbformat.read(path, as_version=4).cells
               if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution")]
    assert len(answers) == sheet.count("\n> **Answer.**") and all(a.split("\n")[0] in sheet for a in answers)


def test_no_model_answer_reaches_the_student_edition():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        full = nbformat.read(path, as_version=4)
        student = make_student.student_notebook(full, path.name)
        answers = {cell.source for cell in full.cells
                   if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution")}
        assert answers and not answers & {cell.source for cell in student.cells}, path.name
        assert all(cell.source == make_student.TEXT_STUB for cell in student.cells
                   if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"))
