"""The Colab lines at the top of every notebook (tools/colab_bootstrap.py): the same everywhere, from the
one setting, inert outside Colab, and in Colab the right commands in the right order. `make test-colab`
runs them for real on a simulated bare host (tools/simulate_colab.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import colab_bootstrap  # noqa: E402
import render_readme  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _first_cell(path: Path) -> str:
    cell = colab_bootstrap.first_code_cell(json.loads(path.read_text()))
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_every_notebook_opens_with_the_same_lines_from_the_setting(capsys):
    blocks = {path.name: colab_bootstrap.split_source(_first_cell(path))[0] for path in NOTEBOOKS}
    assert set(blocks.values()) == {colab_bootstrap.block(render_readme.launch_repository(ROOT))}, blocks
    assert colab_bootstrap.main(["--check"]) == 0, capsys.readouterr().out


def test_the_lines_follow_the_setting_and_keep_the_cell():
    cell = colab_bootstrap.block(None) + "\nimport clothlib\n"
    moved = colab_bootstrap.with_block(cell, colab_bootstrap.block("me/course"))
    assert 'repository="https://github.com/me/course.git"' in moved and moved.endswith("\nimport clothlib\n")
    assert colab_bootstrap.with_block("import clothlib\n", colab_bootstrap.block(None)) == cell


def _run_block(monkeypatch, tmp_path) -> list[list[str]]:
    """Execute the lines as a notebook would; the commands they would run are recorded, not run."""
    calls = []
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append([str(c) for c in command]))
    import site

    monkeypatch.setattr(site, "addsitedir", lambda folder: calls.append(["addsitedir", folder]))
    namespace: dict = {}
    exec(colab_bootstrap.block("me/course"), namespace)
    assert set(namespace) == {"__builtins__", "_bootstrap_colab"}, "the lines leave one name in the notebook"
    return calls


def test_outside_colab_the_lines_do_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv("CLOTHLIB_COLAB", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert _run_block(monkeypatch, tmp_path) == []


def test_in_colab_they_clone_install_beside_torch_and_fetch_ccp(monkeypatch, tmp_path):
    monkeypatch.setenv("CLOTHLIB_COLAB", "1")
    monkeypatch.setenv("CLOTHLIB_CCP_SOURCE", "/copy/of/ccp")
    monkeypatch.delenv("CLOTHLIB_REPO", raising=False)
    clone, pip, fetch, *added = _run_block(monkeypatch, tmp_path)
    home = str(tmp_path / "clothlib")
    assert clone[:2] == ["git", "clone"] and clone[-2:] == ["https://github.com/me/course.git", home]
    pins = pip[pip.index("-c") + 1]
    assert pip[:4] == [sys.executable, "-m", "pip", "install"] and pip[-2:] == ["-e", home]
    pinned = Path(pins).read_text().splitlines()
    assert f"torch=={version('torch')}" in pinned and f"torchvision=={version('torchvision')}" in pinned, \
        "pip must keep the torch that is installed"
    assert fetch[1].endswith("download_ccp.py") and fetch[-2:] == ["--source", "/copy/of/ccp"]
    assert added and all(call[0] == "addsitedir" for call in added)


def test_a_clone_already_there_is_kept_and_a_missing_repository_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CLOTHLIB_COLAB", "1")
    (tmp_path / "clothlib").mkdir()
    assert _run_block(monkeypatch, tmp_path)[0][:4] == [sys.executable, "-m", "pip", "install"]
    (tmp_path / "clothlib").rmdir()
    monkeypatch.delenv("CLOTHLIB_REPO", raising=False)
    with pytest.raises(RuntimeError, match="set CLOTHLIB_REPO"):  # no setting, no URL given, nothing to clone
        exec(colab_bootstrap.block(None), {})
