"""tools/exercise_stats.py: the instructor's guide's exercise table matches the notebooks, and the tool
counts and times what a notebook asks of students (on synthetic notebooks, so the rules are pinned)."""
import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("exercise_stats", ROOT / "tools" / "exercise_stats.py")
exercise_stats = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = exercise_stats  # its dataclass looks its module up there
spec.loader.exec_module(exercise_stats)


def test_the_guides_table_matches_the_notebooks(capsys):
    assert exercise_stats.main(["--check"]) == 0, capsys.readouterr().err


def _notebook(tmp_path, solution_body, name="06_toy.ipynb"):
    solution = new_code_cell("import numpy as np\n\n\ndef top_k(distances, k):\n    \"\"\"The k nearest.\"\"\"\n"
                             f"    ### BEGIN SOLUTION\n{solution_body}\n\n    ### END SOLUTION\n")
    solution.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "nb06_top_k", "locked": False}
    check = new_code_cell("from clothlib import exercises\n\noutcome = exercises.check_top_k(top_k)\n")
    check.metadata["nbgrader"] = {"solution": False, "grade": True, "grade_id": "nb06_top_k_check", "points": 1}
    notebook = new_notebook(cells=[new_markdown_cell("# toy"), new_code_cell("%matplotlib inline\nimport math"),
                                   solution, check])
    path = tmp_path / name
    nbformat.write(notebook, path)
    return path


def test_counts_and_a_time_per_check_from_a_notebook(tmp_path):
    path = _notebook(tmp_path, "    order = np.argsort(distances, axis=1, kind='stable')\n    return order[:, :k]")
    stats = exercise_stats.notebook_stats(path, timed=True)
    assert (stats.exercises, stats.checks, stats.solution_lines) == (1, ("check_top_k",), 2)  # blank lines not counted
    assert set(stats.times) == {"check_top_k"} and stats.times["check_top_k"] > 0
    assert exercise_stats.notebook_stats(path).times == {}, "--check times nothing"


def test_a_shipped_solution_its_check_rejects_is_an_error(tmp_path):
    path = _notebook(tmp_path, "    return np.argsort(distances, axis=1)[:, ::-1][:, :k]")
    with pytest.raises(SystemExit, match="fails check_top_k"):
        exercise_stats.notebook_stats(path, timed=True)


def test_check_finds_a_stale_table_and_write_fixes_it(tmp_path, capsys):
    path = _notebook(tmp_path, "    return np.argsort(distances, axis=1, kind='stable')[:, :k]")
    guide = tmp_path / "guide.md"
    guide.write_text(f"# Guide\n\nkept text\n\n{exercise_stats.START}\n{exercise_stats.END}\n\nmore text\n")
    assert exercise_stats.main([str(path), "--check", "--guide", str(guide)]) == 1
    assert "stale" in capsys.readouterr().err
    assert exercise_stats.main([str(path), "--write", "--guide", str(guide)]) == 0
    text = guide.read_text()
    assert text.startswith("# Guide\n\nkept text\n") and text.endswith("more text\n")
    assert "| 06_toy | 1 | 1 | 1 | `check_top_k` " in text
    assert exercise_stats.main([str(path), "--check", "--guide", str(guide)]) == 0
    guide.write_text(text.replace("| 06_toy | 1 | 1 | 1 |", "| 06_toy | 1 | 1 | 2 |"))
    assert exercise_stats.main([str(path), "--check", "--guide", str(guide)]) == 1, "a line count off by one"


def test_a_guide_without_the_markers_is_a_clear_error(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text("# Guide\n")
    with pytest.raises(SystemExit, match="exercises:start"):
        exercise_stats.main([str(_notebook(tmp_path, "    return None")), "--check", "--guide", str(guide)])
