"""The results module: JSON and array exports are complete or absent; a missing file names its command."""
from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from clothlib import results


def test_save_and_load_json(tmp_path):
    path = results.save_json(tmp_path / "sub" / "a.json", {"x": 1.5})
    assert results.load_json(path, "unused") == {"x": 1.5}


def test_missing_result_names_the_command(tmp_path):
    with pytest.raises(results.MissingResultError, match="python -m clothlib.parsing evaluate"):
        results.load_json(tmp_path / "absent.json", "python -m clothlib.parsing evaluate")


def test_failed_json_leaves_the_old_file(tmp_path):
    path = results.save_json(tmp_path / "a.json", {"ok": True})
    with pytest.raises(TypeError):
        results.save_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_save_arrays_writes_meta_last(tmp_path, monkeypatch):
    written = []
    real = results.atomic_write

    def spy(path, mode="w"):
        written.append(path.name)
        return real(path, mode)

    monkeypatch.setattr(results, "atomic_write", spy)
    folder = results.save_arrays(tmp_path / "export", {"codes.npy": np.arange(3)}, {"items": 3})
    assert written == ["codes.npy", "export.json"]
    assert np.array_equal(np.load(folder / "codes.npy"), np.arange(3))


def test_metrics_path():
    assert results.metrics_path("ck/net1.pt", "test").name == "net1.test.metrics.json"
    assert results.metrics_path("ck/net1.pt", "test", "crf.metrics").name == "net1.test.crf.metrics.json"


# --- the artifact registry ---------------------------------------------------------------------------

def test_artifact_path_fills_the_pattern_in_the_given_or_default_folder(tmp_path, monkeypatch):
    assert results.artifact_path("crf_metrics", tmp_path, stem="net1", split="test") == \
        tmp_path / "net1.test.crf.metrics.json"
    monkeypatch.setattr(results, "settings", dataclasses.replace(results.settings, checkpoint_dir=tmp_path))
    assert results.artifact_path("end_to_end", split="test") == tmp_path / "end_to_end.test.json"
    assert results.artifact_path("benchmark", benchmark="crf_speed").parts[-3:] == ("benchmarks", "results",
                                                                                    "crf_speed.json")
    assert results.shown("lever_curve", stem="a") == "checkpoints/levers/a.curve.json"
    assert results.beside("crf_search", tmp_path / "ck" / "effnet_fcn.pt") == tmp_path / "ck" / "effnet_fcn.crf.json"


def test_artifact_path_refuses_a_missing_field_and_an_unknown_key():
    with pytest.raises(TypeError, match="needs split"):
        results.artifact_path("retrieval", stem="hash_simnet_48")
    with pytest.raises(KeyError, match="no results file 'retrievals'"):
        results.artifact_path("retrievals")
    with pytest.raises(TypeError, match="no default folder"):
        results.artifact_path("export")


def test_load_artifact_reads_it_and_a_missing_one_names_its_command(tmp_path):
    results.save_json(results.artifact_path("tta", tmp_path, stem="effnet_fcn", split="val"), {"rows": {}})
    assert results.load_artifact("tta", tmp_path, stem="effnet_fcn", split="val") == {"rows": {}}
    with pytest.raises(results.MissingResultError,
                       match=r"net2\.test\.metrics\.json not found\. Write it with `python -m clothlib\.parsing "
                             r"evaluate --checkpoint checkpoints/net2\.pt --split test`"):
        results.load_artifact("parsing_metrics", tmp_path, stem="net2", split="test")
    with pytest.raises(results.MissingResultError, match="python benchmarks/two_stage_speed.py"):
        results.load_artifact("benchmark", tmp_path, benchmark="two_stage_speed")


def test_every_artifact_names_a_command_and_its_fields():
    for key, artifact in results.ARTIFACTS.items():
        assert artifact.key == key and artifact.command and artifact.description
        assert set(artifact.fields) <= {"stem", "split", "benchmark"}, key


def test_companion_swaps_one_artifact_for_another_of_the_same_run():
    assert results.companion("ck/x.test.metrics.json", "hashing_items", of="hashing_metrics").as_posix() == \
        "ck/x.test.items.json"
    assert results.companion("out/mine.json", "hashing_items", of="hashing_metrics").name == "mine.items.json"


ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("clothlib", "tools", "benchmarks", "data_scripts", "app")  # the package and the command lines


def _name_pattern() -> re.Pattern:
    """Any results file name the registry owns: each artifact's longest fixed part (``.crf.metrics.json``,
    ``retrieval_baselines.json``, ``.quantisers.``) and each benchmark's file."""
    parts = {max(re.split(r"\{[^}]*\}", a.pattern), key=len) for a in results.ARTIFACTS.values()
             if a.key != "benchmark"}
    parts |= {results.artifact_name("benchmark", benchmark=p.stem) for p in (ROOT / "benchmarks").glob("*.py")}
    return re.compile("|".join(map(re.escape, sorted(parts, key=len, reverse=True))))


def _spelt_names(source: str, pattern: re.Pattern) -> list[str]:
    """The results file names written out in the code's strings (docstrings, prose for readers, aside)."""
    tree = ast.parse(source)
    documented = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [f"line {node.lineno}: {match.group(0)!r} in {node.value[:60]!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in documented
            for match in pattern.finditer(node.value)]


def test_spelt_names_finds_a_name_in_code_and_not_in_a_docstring():
    source = '"""Writes ``x.crf.json``."""\npath = folder / f"{stem}.test.retrieval.json"\n'
    assert _spelt_names(source, _name_pattern()) == ["line 2: '.retrieval.json' in '.test.retrieval.json'"]


def test_no_results_file_name_is_spelt_outside_the_registry():
    """Adding or renaming a results file is one row of ``ARTIFACTS``: the package, the command lines and
    the notebooks' code build every name through ``clothlib.results``."""
    pattern, found = _name_pattern(), []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != ROOT / "clothlib" / "results.py":
                found += [f"{path.relative_to(ROOT)} {hit}" for hit in _spelt_names(path.read_text(), pattern)]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                                 for line in "".join(cell["source"]).splitlines())
                found += [f"{path.relative_to(ROOT)} cell {index} {hit}" for hit in _spelt_names(code, pattern)]
    assert not found, "results file names spelt out; use clothlib.results.artifact_path / load_artifact:\n" + \
        "\n".join(found)
