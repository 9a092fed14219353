"""Claims in prose stay true: a number that a committed results file holds is printed by the notebook
from that file (or computed in the run), never typed into a markdown cell or a doc, where it would go
stale the day the file is re-made. Reads files only; runs nothing.

The numbers looked for are those of ``checkpoints/*.json`` (and ``checkpoints/levers/``), outside their
configuration blocks, written the ways prose writes them: integers of three or more digits (``913``,
``7,087``) and decimals rounded to one or two places with at least three significant digits (``86.7``,
``61.55``). Shorter numbers (``0.5``, ``20``) are too common to attribute to a file. A number that a
doc must state, because a doc cannot run code, is listed in ``CHECKED_ELSEWHERE`` with the test that
checks it against its source.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULT_FILES = sorted(path for path in [*(ROOT / "checkpoints").glob("*.json"),
                                        *(ROOT / "checkpoints" / "levers").glob("*.json")]
                      if not path.name.endswith((".curve.json", ".items.json")))  # per-epoch and per-item records
# configuration, not results; and per-photo records, whose ids and pixel counts are not claims
SKIPPED_KEYS = {"config", "c2s_config", "parameters", "params", "best", "unbounded_best", "grid", "crf_params", "rule",
                "per_photo", "confusion", "confusion_matrix", "boundary_counts", "bits", "eval_height", "height",
                "previous", "seed"}
PROSE_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PROSE_DOCS = sorted((ROOT / "docs").glob("*.md"))
NUMBER = re.compile(r"(?<![\w.,\-])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w\-]|\.\d|,\d{3})")
GENERATED = re.compile(r"<!-- (\w[\w-]*):start -->.*?<!-- \1:end -->|<!-- begin: ([\w-]+) -->.*?<!-- end: \2 -->", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$|<https?://[^>]*>|\]\([^)]*\)", re.S)
PSEUDO_LOG = ROOT / "checkpoints" / "logs" / "c2s_pseudo.log"

SPLITS = ROOT / "clothlib" / "splits"

# (file, number as written): the test that checks it against where it comes from
CHECKED_ELSEWHERE = {
    **{("docs/differences_from_paper.md", n): "test_the_data_sizes_row_matches_the_log_that_built_the_set"
       for n in ("4,549", "3,156", "480", "913", "3,931", "7,087")},
    **{(where, "7.69"): "test_arithmetic_in_prose_is_right"  # 100 / 13 classes; the sheet copies 02's answers
       for where in ("notebooks/02_fcn_parsing.ipynb", "docs/model_answers.md")},
}
ARITHMETIC = {("notebooks/02_fcn_parsing.ipynb", "7.69"): 100 / 13, ("docs/model_answers.md", "7.69"): 100 / 13}


def dataset_counts() -> dict[str, int | float]:
    """What the committed split files define (not results): prose may state these anywhere."""
    sizes = {split: len((SPLITS / f"ccp_{split}.txt").read_text().split()) for split in ("train", "val", "test")}
    annotated = sum(sizes.values())
    return {"annotated photos": annotated, "test photos": sizes["test"], "validation photos": sizes["val"],
            "validation share of the training part (%)": round(100 * sizes["val"] / (sizes["train"] + sizes["val"]), 1),
            "tag-only photos": _pseudo_counts()["pseudo"]["photos"]}


def _numbers(value, key=None):
    """Every number in a parsed JSON value, outside configuration blocks."""
    if key in SKIPPED_KEYS:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v, key)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        yield value


def _significant(text: str) -> int:
    return len(text.replace(".", "").replace(",", "").lstrip("0"))


def printed_forms(value) -> set[str]:
    """How prose would write ``value``, as plain digit strings (no thousands separators): only forms
    precise enough to point at a file."""
    forms = set()
    if isinstance(value, int) or float(value).is_integer():
        if abs(value) >= 100:
            forms.add(str(int(abs(value))))
        if isinstance(value, int):
            return forms
    for places in (1, 2):
        text = f"{abs(value):.{places}f}"
        if _significant(text) >= 3 and not text.endswith("0"):
            forms.add(text)
    return forms


def result_numbers() -> dict[str, str]:
    """Printed form -> the first results file that holds it."""
    found: dict[str, str] = {}
    for path in RESULT_FILES:
        for value in _numbers(json.loads(path.read_text())):
            for form in printed_forms(value):
                found.setdefault(form, str(path.relative_to(ROOT)))
    return found


def prose_numbers(text: str) -> list[str]:
    """Numbers as written in markdown prose, outside generated sections (a tool wrote them from their
    source and a test keeps them current), code spans, maths and links."""
    return ["".join(match.groups(default="")) for match in NUMBER.finditer(CODE.sub(" ", GENERATED.sub(" ", text)))]


def prose() -> list[tuple[str, str]]:
    """(where, text) of every markdown cell of the notebooks and of every doc page."""
    pieces = []
    for path in PROSE_NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                pieces.append((f"notebooks/{path.name}", "".join(cell["source"])))
    pieces += [(f"docs/{path.name}", path.read_text()) for path in PROSE_DOCS]
    return pieces


def _written_in(where: str) -> list[str]:
    """The prose numbers of one doc or one notebook's markdown cells."""
    return prose_numbers("\n".join(text for w, text in prose() if w == where))


def test_the_number_matcher_finds_what_prose_writes_and_leaves_identifiers_alone():
    text = ("found for 86.7 % of 7,087 items; top-20 61.55; `lr = 0.0045` net1 hash_catt3_net_48 1e-6 "
            "$\\theta = 80.5$ [link](../docs/a_913.md) 3.4 M, 2.3.1 and (913) <!-- t:start --> 52.2 <!-- t:end -->")
    assert prose_numbers(text) == ["86.7", "7,087", "61.55", "3.4", "913"]
    assert printed_forms(86.747) == {"86.7", "86.75"} and printed_forms(913) == {"913"}
    assert printed_forms(5.922) == {"5.92"} and printed_forms(0.45) == set() and printed_forms(20) == set()


def test_no_prose_hard_codes_a_number_a_results_file_holds():
    held = result_numbers()
    for value in dataset_counts().values():  # defined by the split files, checked below
        for form in {str(value), f"{value:.1f}"}:
            held.pop(form, None)
    stale = []
    for where, text in prose():
        for written in prose_numbers(text):
            digits = written.replace(",", "")
            if digits in held and (where, written) not in CHECKED_ELSEWHERE:
                stale.append(f"{where}: {written} (in {held[digits]})")
    assert not stale, ("numbers typed into prose that a results file holds: print them from the file in a code "
                       "cell instead (or check a doc's number against its source in a test):\n" + "\n".join(stale))


def test_every_number_checked_elsewhere_is_still_written_there():
    """An entry of CHECKED_ELSEWHERE whose number left its file would hide a new one."""
    for (where, written), test_name in CHECKED_ELSEWHERE.items():
        assert written in _written_in(where), (where, written)
        assert test_name in globals(), test_name


def _pseudo_counts() -> dict:
    """The counts the log of the shipped set's build printed (the JSON object after its first lines)."""
    text = PSEUDO_LOG.read_text()
    counts, _ = json.JSONDecoder().raw_decode(text[text.index("{"):])
    return counts


def test_the_dataset_counts_are_those_of_the_split_files():
    counts = dataset_counts()
    assert counts == {"annotated photos": 1004, "test photos": 201, "validation photos": 100,
                      "validation share of the training part (%)": 12.5, "tag-only photos": 1094}, counts


def test_arithmetic_in_prose_is_right():
    for (where, written), value in ARITHMETIC.items():
        assert f"{value:.2f}" == written and written in _written_in(where), (where, written)


def test_the_data_sizes_row_matches_the_log_that_built_the_set():
    counts = _pseudo_counts()
    row = next(line for line in (ROOT / "docs" / "differences_from_paper.md").read_text().splitlines()
               if line.startswith("| **Data sizes of that set**"))
    gt, split = counts["by_source"]["gt"], counts["by_split"]
    annotated_train = split["train"] - counts["by_source"]["pseudo"]
    for number in (gt, annotated_train, split["val"], split["test"], counts["by_source"]["pseudo"], split["train"],
                   counts["pseudo"]["photos"]):
        assert f"{number:,}" in row, f"the data sizes row lacks {number:,} (checkpoints/logs/c2s_pseudo.log)"
    written = {int(n.replace(",", "")) for n in prose_numbers(row) if "," in n}
    assert written <= {gt, annotated_train, counts["by_source"]["pseudo"], split["train"], counts["pseudo"]["photos"],
                       1004}, f"a count in the data sizes row that the log does not give: {sorted(written)}"


@pytest.mark.parametrize("path", PROSE_NOTEBOOKS, ids=lambda p: p.name)
def test_section_references_in_a_notebook_point_at_its_headings(path):
    """'section 2' in a notebook's prose needs a '## 2 ·' heading in that notebook."""
    cells = [("".join(c["source"]), c["cell_type"]) for c in json.loads(path.read_text())["cells"]]
    headings = {m.group(1) for text, kind in cells if kind == "markdown"
                for m in re.finditer(r"^##+ (\d+) ·", text, re.M)}
    cited = {m.group(1) for text, kind in cells if kind == "markdown"
             for m in re.finditer(r"\b[Ss]ection (\d+)\b", text)}
    assert cited <= headings, f"{path.name} cites sections {sorted(cited - headings)} that have no heading"
