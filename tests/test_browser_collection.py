"""Plain ``pytest`` runs wherever the unit tests can: without Selenium (or Chromium), the browser tests
under ``tests/browser`` are skipped with the reason, not a collection error that aborts the session;
``make test-browser`` (``-m browser``) still fails without a browser instead of passing empty."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _collect(tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    """Collect tests/browser in a fresh interpreter where ``import selenium`` fails."""
    blocked = tmp_path / "selenium"
    blocked.mkdir()
    (blocked / "__init__.py").write_text('raise ImportError("selenium made unimportable by the test")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *options, "tests/browser"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_browser_tests_skip_with_the_reason_without_selenium(tmp_path):
    run = _collect(tmp_path)
    out = run.stdout + run.stderr
    assert "error" not in out.lower(), out
    assert run.returncode == 5, out  # nothing collected, nothing failed
    modules = len(list((REPO / "tests" / "browser").glob("test_*.py")))
    assert f"SKIPPED [{modules}]" in out, out
    assert "the browser tests need Selenium" in out and "apt-get install chromium" in out


def test_asking_for_the_browser_tests_without_selenium_is_an_error(tmp_path):
    run = _collect(tmp_path, "-m", "browser")
    assert run.returncode not in (0, 5) and "the browser tests need Selenium" in run.stdout + run.stderr
