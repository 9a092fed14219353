"""Fault injection: each writer (download, build, train, predict, results) killed with SIGKILL at chosen
points, then run again, must end with the clean result; two writers of one output at once must both end
well. Kills are deterministic: the child process SIGKILLs itself at the Nth call of a named function
(``os.replace``: just before the Nth atomic rename, the temp file complete), or the test kills it once a
file it writes has appeared. Inputs are tiny (a few photos, a 4-photo network trained for 2 epochs), so
the whole file runs in about a minute.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clothlib.data.download import MARKER, fetch_ccp, write_manifest
from clothlib.io import exclusive, staging_folder

REPO = Path(__file__).resolve().parents[1]
# The child: patch ``FAULT_AT`` (``module.function:N``) so that its Nth call in this process (not in a
# worker it forks) SIGKILLs the process, or with ``FAULT_SLEEP`` set sleeps that many seconds instead;
# then run the command line given as arguments (a script path, ``-m module`` or ``-c code``).
CHILD = """
import importlib, os, runpy, signal, sys, time
target, n = os.environ["FAULT_AT"].rsplit(":", 1)
module_name, _, name = target.rpartition(".")
module = importlib.import_module(module_name)
original, calls, me = getattr(module, name), [0], os.getpid()
def hooked(*args, **kwargs):
    if os.getpid() == me:
        calls[0] += 1
        if calls[0] == int(n):
            if os.environ.get("FAULT_SLEEP"):
                time.sleep(float(os.environ["FAULT_SLEEP"]))
            else:
                os.kill(me, signal.SIGKILL)
    return original(*args, **kwargs)
setattr(module, name, hooked)
if sys.argv[1] == "-c":
    code, sys.argv = sys.argv[2], ["-c", *sys.argv[3:]]
    exec(compile(code, "<command>", "exec"), {"__name__": "__main__"})
elif sys.argv[1] == "-m":
    sys.argv = sys.argv[2:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _env(**extra) -> dict:
    env = {**os.environ, "TQDM_DISABLE": "1", "CLOTHLIB_FAST": "1", **extra}
    env.pop("FAULT_AT", None) if "FAULT_AT" not in extra else None
    return env


def run(argv: list[str], fault: str | None = None, **env) -> subprocess.CompletedProcess:
    """Run a command line (``[script, args...]`` or ``["-m", module, args...]``), SIGKILLed at ``fault``."""
    if fault:
        env["FAULT_AT"] = fault
        return subprocess.run([sys.executable, "-c", CHILD, *argv], env=_env(**env), capture_output=True, text=True,
                              cwd=REPO, timeout=120)
    return subprocess.run([sys.executable, *argv], env=_env(**env), capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def killed(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes, by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    """Staging folders and temp files in ``folder`` (what a run must not leave once it is re-run)."""
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return sorted(name for name in names if ".partial-" in name or name.endswith(".tmp"))


# --- staging folders and locks ---------------------------------------------------------------------


def test_a_dead_writers_staging_folder_is_swept_and_a_live_ones_is_kept(tmp_path):
    target = tmp_path / "ccp"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [tmp_path / f".ccp.partial-{dead.pid}-abc123", tmp_path / ".ccp.partial-k2j4l5m6"]  # older clothlib's
    live = tmp_path / f".ccp.partial-{os.getppid()}-def456"
    other = tmp_path / f".c2s.partial-{dead.pid}-ghi789"  # another target's: not this sweep's business
    for folder in (*stale, live, other):
        (folder / "ccp").mkdir(parents=True)
    made = staging_folder(target)
    assert made.name.startswith(f".ccp.partial-{os.getpid()}-") and made.is_dir()
    assert not any(folder.exists() for folder in stale)
    assert live.exists() and other.exists()


def test_a_second_holder_of_the_lock_waits_for_the_first(tmp_path, capsys):
    order = []

    def second():
        with exclusive(tmp_path / "out", waiting="waiting for the first"):
            order.append("second")

    with exclusive(tmp_path / "out"):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"]
    assert "waiting for the first" in capsys.readouterr().out


# --- download ----------------------------------------------------------------------------------------


@pytest.fixture
def mini_ccp(ccp_root, tmp_path):
    """A CCP-shaped folder of a few real files and its manifest, and the command that copies it."""
    source = tmp_path / "source"
    for rel in ("label_list.mat", "photos/0001.jpg", "photos/0002.jpg", "annotations/pixel-level/0001.mat",
                "annotations/pixel-level/0002.mat"):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ccp_root / rel, source / rel)
    manifest = write_manifest(source, tmp_path / "manifest.tsv")
    dest = tmp_path / "data" / "ccp"
    command = ["-c", f"from clothlib.data.download import fetch_ccp; fetch_ccp({str(dest)!r}, "
                     f"source={str(source)!r}, manifest={str(manifest)!r})"]
    return source, manifest, dest, command


@pytest.mark.parametrize("fault", ["clothlib.data.download._write_verified:3", "os.replace:1"])
def test_a_killed_download_leaves_nothing_and_the_rerun_verifies(mini_ccp, fault):
    source, manifest, dest, command = mini_ccp
    killed(run(command, fault))
    assert not dest.exists()
    assert leftovers(dest.parent)  # what the kill left: the staging folder
    ok(run(command))
    assert leftovers(dest.parent) == []
    assert files(dest) == {**files(source), MARKER: (dest / MARKER).read_bytes()}


def test_two_downloads_at_once_the_second_waits_then_finds_the_copy(mini_ccp):
    source, manifest, dest, command = mini_ccp
    first = subprocess.Popen([sys.executable, "-c", CHILD, *command], cwd=REPO, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=_env(FAULT_AT="os.replace:1", FAULT_SLEEP="2"))
    deadline = time.monotonic() + 60
    while not leftovers(dest.parent) and time.monotonic() < deadline:  # the first is staging, lock held
        time.sleep(0.05)
    second = ok(run(command))
    assert first.wait(60) == 0, first.stderr.read()
    assert "waiting for it to finish" in second.stdout and "by the download that ran meanwhile" in second.stdout
    assert fetch_ccp(dest, source=source, manifest=manifest, progress=False) == dest.resolve()
    assert leftovers(dest.parent) == []
