"""tools/render_readme.py: the README's tables come from the results files and render the same in every
clone; and the commands the README documents (`make course`) keep what a reader needs."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("render_readme", ROOT / "tools" / "render_readme.py")
render_readme = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_readme)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_render_fills_a_section_and_is_idempotent():
    text = "intro\n<!-- begin: table -->\nstale\n<!-- end: table -->\noutro\n"
    once = render_readme.render(text, {"table": lambda: "| a |\n|---|"})
    assert once == "intro\n<!-- begin: table -->\n| a |\n|---|\n<!-- end: table -->\noutro\n"
    assert render_readme.render(once, {"table": lambda: "| a |\n|---|"}) == once


def test_render_names_a_missing_section():
    with pytest.raises(ValueError, match="course-map"):
        render_readme.render("no markers here", {"course-map": lambda: ""})


def test_only_renders_the_named_sections_and_leaves_every_other_byte(tmp_path, monkeypatch):
    """Several people edit README sections at once: a script that re-renders one stage's section must
    not rewrite another's (stale or being edited)."""
    document = tmp_path / "README.md"
    document.write_text("<!-- begin: ours -->\nold\n<!-- end: ours -->\n<!-- begin: theirs -->\nedited by hand\n"
                        "<!-- end: theirs -->\n")
    makers = {"ours": (document, lambda: "new"), "theirs": (document, lambda: "rendered")}
    monkeypatch.setattr(render_readme, "sections", lambda root, checkpoints: makers)
    now, new = render_readme.rendered(tmp_path, tmp_path, ["ours"])[document]
    assert new == document.read_text().replace("old", "new")
    assert "rendered" in render_readme.rendered(tmp_path, tmp_path)[document][1]
    with pytest.raises(ValueError, match="no section named yours"):
        render_readme.rendered(tmp_path, tmp_path, ["yours"])


def test_launch_badges_come_from_pyproject_only(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.clothlib.readme]\nrepository = ""\n')
    assert render_readme.launch_repository(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text('[tool.clothlib.readme]\nrepository = "me/clothlib-course"\n')
    assert render_readme.launch_repository(tmp_path) == "me/clothlib-course"
    assert render_readme.launch_repository(ROOT) is None, "the committed README has no badges"


def test_committed_documents_are_up_to_date(capsys):
    assert render_readme.main(["--check"]) == 0, capsys.readouterr().out


def fork(tmp_path: Path) -> Path:
    """A clone of this repository whose origin is on GitHub, as a class's fork is; files changed but not
    yet committed here are carried over, so the clone holds what the next commit will."""
    clone = tmp_path / "clothlib-course"
    git("clone", "--quiet", str(ROOT), str(clone), cwd=tmp_path)
    git("remote", "set-url", "origin", "https://github.com/someone/clothlib-course.git", cwd=clone)
    changed = git("diff", "--name-only", "HEAD", cwd=ROOT).splitlines()
    changed += git("ls-files", "--others", "--exclude-standard", cwd=ROOT).splitlines()
    for name in changed:
        source, target = ROOT / name, clone / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        elif target.is_file():
            target.unlink()
    return clone


def test_a_fork_with_a_github_origin_renders_the_committed_readme(tmp_path):
    clone = fork(tmp_path)
    assert "github.com" in git("remote", "get-url", "origin", cwd=clone)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOTHLIB_")} | {"PYTHONPATH": str(clone)}
    where = subprocess.run([sys.executable, "-c", "import clothlib; print(clothlib.settings.checkpoint_dir)"],
                           env=env, cwd=clone, check=True, capture_output=True, text=True).stdout.strip()
    assert where == str(clone / "checkpoints"), "the clone's own package and results files are used"
    check = subprocess.run([sys.executable, "tools/render_readme.py", "--check"], env=env, cwd=clone,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert (clone / "README.md").read_text() == (ROOT / "README.md").read_text()
    assert "badge_logo.svg" not in (clone / "README.md").read_text(), "no launch badges unless pyproject.toml asks"


def test_make_course_lets_the_kernels_draw_figures(tmp_path):
    """`make course` must not hand MPLBACKEND=Agg to the kernels it runs (their figures would vanish from
    build/), even when the caller's shell sets it."""
    shutil.copy(ROOT / "Makefile", tmp_path)
    record = tmp_path / "record"
    fake_python = tmp_path / "python"
    fake_python.write_text(f'#!/bin/sh\necho "${{MPLBACKEND-unset}} $*" >> {record}\n')
    fake_python.chmod(0o755)
    subprocess.run(["make", "--no-print-directory", "-o", "data", "course", f"PY={fake_python}"], cwd=tmp_path,
                   env=dict(os.environ, MPLBACKEND="Agg"), check=True, capture_output=True)
    executions = [line for line in record.read_text().splitlines() if "--execute" in line]
    assert executions and all(line.startswith("unset ") for line in executions), executions
