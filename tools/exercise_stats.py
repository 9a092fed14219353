"""The instructor's guide's table of exercises, generated from the notebooks.

    python tools/exercise_stats.py            # print the table (times each check on the shipped solution)
    python tools/exercise_stats.py --write    # write it into docs/instructor_guide.md, between the markers
    python tools/exercise_stats.py --check    # fail when the guide's counts differ from the notebooks'

Per notebook: its implement-then-check exercises (code cells with nbgrader ``"solution": true`` and a
``### BEGIN SOLUTION`` region), the ``exercises.check_*`` functions its cells call, the solution lines
(non-blank lines between the markers, as ``make_student.solution_lines`` counts them for the points)
and how long each check takes on the full edition's solution. To time a check the tool runs the
top-level imports, functions and classes of the cells before the check cell (the solutions among them),
then the check on what the check cell passes it: none of the notebook's computations run, so timing
takes seconds. A shipped solution that its
check rejects is an error. ``--check`` compares counts and check names only (times depend on the
machine), so a test can keep the table current without timing anything.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import io
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "instructor_guide.md"
START, END = "<!-- exercises:start -->", "<!-- exercises:end -->"
COMMAND = "python tools/exercise_stats.py --write"
CHECK_CALL = re.compile(r"exercises\.(check_\w+)\(\s*(\w+)?")
HEADER = ["notebook", "exercises", "checks", "solution lines", "time per check (shipped solution)"]

_spec = importlib.util.spec_from_file_location("make_student", Path(__file__).with_name("make_student.py"))
make_student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_student)


@dataclass(frozen=True)
class NotebookStats:
    """What one notebook asks of students; ``times`` (check -> seconds) only when measured."""

    name: str
    exercises: int
    checks: tuple[str, ...]
    solution_lines: int
    times: dict[str, float] = field(default_factory=dict)


def _source(cell) -> str:
    return cell.source


def _is_exercise(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell["cell_type"] == "code" and meta.get("solution") and not meta.get("grade") \
        and "BEGIN SOLUTION" in _source(cell)


def _definitions(cells) -> str:
    """The top-level imports, functions and classes of ``cells``: what a solution relies on (a helper an
    exercise defines, a class around it), without the notebook's computations."""
    kinds = ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef
    nodes = []
    for cell in cells:
        try:
            tree = ast.parse(_source(cell))
        except SyntaxError:  # a cell with IPython magics: the tool skips it
            continue
        nodes += [ast.unparse(node) for node in tree.body if isinstance(node, kinds)]
    return "\n\n".join(nodes)


def _time_check(path: Path, cells, index: int, check: str, function: str) -> float:
    """Seconds ``exercises.<check>`` takes on ``function`` as the cells before cell ``index`` define it."""
    from clothlib import exercises

    namespace: dict = {}
    exec(compile(_definitions(cells[:index]), f"{path.name} before cell {index}", "exec"), namespace)  # our notebooks
    runs = []
    for _ in range(3):  # the best of three: the first run also pays for the library's lazy imports
        with contextlib.redirect_stdout(io.StringIO()):
            start = time.perf_counter()
            outcome = getattr(exercises, check)(namespace[function])
            runs.append(time.perf_counter() - start)
        if not outcome:
            raise SystemExit(f"{path}: the shipped solution of {function} fails {check}: {outcome.message}")
    return min(runs)


def notebook_stats(path: Path, timed: bool = False) -> NotebookStats:
    """Counts for one notebook and, with ``timed``, each graded check's time on its solution."""
    cells = nbformat.read(path, as_version=4).cells
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    exercises = [index for index, cell in enumerate(code) if _is_exercise(cell)]
    checks, times = [], {}
    for index, cell in enumerate(code):
        for check, argument in CHECK_CALL.findall(_source(cell)):
            if check not in checks:
                checks.append(check)
            defined = any(re.search(rf"^(def|class) {argument}\b", _source(cell), re.M) for cell in code[:index])
            if timed and argument and defined and any(i < index for i in exercises):
                times[check] = _time_check(path, code, index, check, argument)
    lines = sum(make_student.solution_lines(code[index]) for index in exercises)
    return NotebookStats(path.stem, len(exercises), tuple(checks), lines, times)


def _ms(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{1000 * seconds:.1f} ms"


def _row(stats: NotebookStats) -> str:
    times = ", ".join(f"`{check}` {_ms(stats.times[check])}" if check in stats.times else f"`{check}` (not timed)"
                      for check in stats.checks) or "—"
    return f"| {stats.name} | {stats.exercises} | {len(stats.checks)} | {stats.solution_lines} | {times} |"


def render(all_stats: list[NotebookStats]) -> str:
    """The block between the markers: the table and how it was made."""
    total = NotebookStats("**all**", sum(s.exercises for s in all_stats), (), sum(s.solution_lines for s in all_stats))
    checks = len({check for s in all_stats for check in s.checks})  # 00 demonstrates 01's check
    rows = [_row(stats) for stats in all_stats]
    rows.append(f"| {total.name} | {total.exercises} | {checks} | {total.solution_lines} | "
                f"{_ms(sum(sum(s.times.values()) for s in all_stats))} in all |")
    return "\n".join([START, f"Generated from the notebooks by `{COMMAND}` (do not edit by hand; a test checks the "
                      "counts, the times are measured on the machine that wrote them).", "",
                      "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER), *rows, END])


def _table_cells(block: str) -> list[list[str]]:
    """The guide's rows, first four columns and the check names of the fifth (times left out)."""
    rows = []
    for line in block.splitlines()[4:]:
        if line.startswith("| "):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows.append(cells[:4] + re.findall(r"`(check_\w+)`", cells[4]))
    return rows


def _block(text: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"the guide lacks the markers {START} and {END}: add them where the table goes")
    return text[text.index(START):text.index(END) + len(END)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write the table into {GUIDE.relative_to(ROOT)}")
    mode.add_argument("--check", action="store_true", help="fail when the guide's counts differ from the notebooks'")
    parser.add_argument("--guide", type=Path, default=GUIDE, help="the markdown file holding the table")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    all_stats = [notebook_stats(path, timed=not args.check) for path in paths]
    block = render(all_stats)
    if args.check:
        if _table_cells(_block(args.guide.read_text(encoding="utf-8"))) != _table_cells(block):
            print(f"{args.guide}: the exercise table is stale; run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if args.write:
        from clothlib.io import atomic_write

        text = args.guide.read_text(encoding="utf-8")
        with atomic_write(args.guide, "w") as handle:
            handle.write(text.replace(_block(text), block))
        return 0
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
