"""Fault injection: each writer (download, build, train, predict, results) killed with SIGKILL at chosen
points, then run again, must end with the clean result; two writers of one output at once must both end
well. Kills are deterministic: the child process SIGKILLs itself at the Nth call of a named function
(``os.replace``: just before the Nth atomic rename, the temp file complete), or the test kills it once a
file it writes has appeared. Inputs are tiny (a few photos, a 4-photo network trained for 2 epochs), so
the whole file runs in about a minute.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clothlib.data.c2s import build_c2s
from clothlib.data.download import MARKER, fetch_ccp, write_manifest
from clothlib.io import exclusive, staging_folder

REPO = Path(__file__).resolve().parents[1]
# The child: patch ``FAULT_AT`` (``module:attribute:N``, the attribute a function or ``Class.method``) so
# that its Nth call in this process (not in a worker it forks) SIGKILLs the process, after writing the
# pids of its child processes to ``FAULT_PIDS`` if set; with ``FAULT_SLEEP`` set it sleeps that many
# seconds instead. Then it runs the command line given as arguments (a script, ``-m module`` or ``-c code``).
CHILD = """
import importlib, os, runpy, signal, sys, time
module_name, path, n = os.environ["FAULT_AT"].split(":")
*owner_path, name = path.split(".")
owner = importlib.import_module(module_name)
for part in owner_path:
    owner = getattr(owner, part)
original, calls, me = getattr(owner, name), [0], os.getpid()
def children():
    found = []
    for stat in os.listdir("/proc"):
        try:
            if stat.isdigit() and open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()[1] == str(me):
                found.append(stat)
        except OSError:
            pass
    return found
def hooked(*args, **kwargs):
    if os.getpid() == me:
        calls[0] += 1
        if calls[0] == int(n):
            if os.environ.get("FAULT_SLEEP"):
                time.sleep(float(os.environ["FAULT_SLEEP"]))
            else:
                if os.environ.get("FAULT_PIDS"):
                    open(os.environ["FAULT_PIDS"], "w").write(" ".join(children()))
                os.kill(me, signal.SIGKILL)
    return original(*args, **kwargs)
setattr(owner, name, hooked)
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
    env = {name: value for name, value in os.environ.items() if not name.startswith("FAULT_")}
    return {**env, "TQDM_DISABLE": "1", "CLOTHLIB_FAST": "1", "OMP_NUM_THREADS": "1", **extra}


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


@pytest.mark.parametrize("fault", ["clothlib.data.download:_write_verified:3", "os:replace:1"])
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
                             stderr=subprocess.PIPE, env=_env(FAULT_AT="os:replace:1", FAULT_SLEEP="2"))
    deadline = time.monotonic() + 60
    while not leftovers(dest.parent) and time.monotonic() < deadline:  # the first is staging, lock held
        time.sleep(0.05)
    second = ok(run(command))
    assert first.wait(60) == 0, first.stderr.read()
    assert "waiting for it to finish" in second.stdout and "by the download that ran meanwhile" in second.stdout
    assert fetch_ccp(dest, source=source, manifest=manifest, progress=False) == dest.resolve()
    assert leftovers(dest.parent) == []


# --- consumer-to-shop build ----------------------------------------------------------------------------

BUILD_PHOTOS = 12  # three chunks of four photos for the two workers


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


@pytest.fixture(scope="module")
def clean_build(ccp_root, tmp_path_factory):
    """The files of an uninterrupted build, in this process and with no workers."""
    return files(build_c2s(tmp_path_factory.mktemp("clean") / "c2s", max_photos=BUILD_PHOTOS, workers=1,
                           progress=False))


def test_a_build_killed_while_its_workers_run_takes_them_along_and_the_rerun_is_clean(clean_build, tmp_path):
    out = tmp_path / "data" / "c2s"
    command = ["data_scripts/build_c2s.py", "--out", str(out), "--max-photos", str(BUILD_PHOTOS), "--workers", "2"]
    pids = tmp_path / "workers.txt"
    # the second chunk's result: the first chunk's views are written, the workers busy with the rest
    killed(run(command, "concurrent.futures._base:Future.result:2", FAULT_PIDS=str(pids)))
    workers = [int(pid) for pid in pids.read_text().split()]
    assert len(workers) >= 2
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(pid) for pid in workers), "the killed build's workers live on"
    assert not out.exists() and leftovers(out.parent)
    ok(run(command))
    assert leftovers(out.parent) == []
    assert files(out) == clean_build


def test_two_builds_at_once_the_second_waits_and_both_end_with_the_set(clean_build, tmp_path):
    out = tmp_path / "c2s"
    command = ["data_scripts/build_c2s.py", "--out", str(out), "--max-photos", str(BUILD_PHOTOS), "--workers", "1"]
    first = subprocess.Popen([sys.executable, "-c", CHILD, *command], cwd=REPO, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=_env(FAULT_AT="os:replace:1", FAULT_SLEEP="2"))
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and time.monotonic() < deadline:  # the first is building, lock held
        time.sleep(0.05)
    second = ok(run(command))
    assert first.wait(60) == 0, first.stderr.read()
    assert "waiting for it" in second.stdout
    assert files(out) == clean_build and leftovers(tmp_path) == []


# --- train, predict, results -----------------------------------------------------------------------------

TINY = dict(model="net2", width=0.125, epochs=2, batch_size=2, crop=(48, 32), base_height=64, eval_height=64,
            workers=0, max_photos=2, lr=0.05)


def _flags(config: dict) -> list[str]:
    flags = []
    for name, value in config.items():
        flags += [f"--{name.replace('_', '-')}", *map(str, value if isinstance(value, tuple) else (value,))]
    return flags


def _weights(path: Path) -> dict:
    import torch

    return torch.load(path, weights_only=True)["weights"]


@contextlib.contextmanager
def one_thread():
    """Torch on one thread in this process, as in the children (OMP_NUM_THREADS=1): sums in another
    order would give other weights."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_network(ccp_root, tmp_path_factory):
    """A tiny parsing network trained without interruption, in this process on one thread."""
    from clothlib.parsing.config import ParsingConfig
    from clothlib.parsing.training import train

    with one_thread():
        return train(ParsingConfig(**TINY), tmp_path_factory.mktemp("tiny") / "net.pt", progress=False)


def test_training_killed_at_two_points_resumes_to_the_uninterrupted_weights(tiny_network, tmp_path):
    import torch

    out = tmp_path / "net.pt"
    command = ["-m", "clothlib.parsing", "train", *_flags(TINY), "--out", str(out)]
    # renames: epoch 1's state, epoch 2's state, the release, the curve
    killed(run(command, "os:replace:2"))  # epoch 2's state written, not yet renamed: resumes after epoch 1
    killed(run(command, "os:replace:2"))  # the resumed run's release written, not yet renamed
    assert not out.exists()
    ok(run(command))
    clean, resumed = _weights(tiny_network), _weights(out)
    assert clean.keys() == resumed.keys() and all(torch.equal(clean[k], resumed[k]) for k in clean)
    assert leftovers(tmp_path) == []


def test_prediction_killed_midway_is_completed_by_the_rerun(tiny_network, tmp_path):
    from clothlib.parsing.__main__ import main

    out = tmp_path / "pred"
    command = ["-m", "clothlib.parsing", "predict", "--checkpoint", str(tiny_network), "--split", "test",
               "--max-photos", "3", "--out", str(out)]
    killed(run(command, "os:replace:2"))  # one class map renamed, the second written, not renamed
    assert len(list(out.glob("*.png"))) == 1 and leftovers(out)
    ok(run(command))
    clean = tmp_path / "clean"
    with one_thread():
        main([*command[2:-1], str(clean)])
    assert files(out) == files(clean) and len(list(out.glob("*.png"))) == 3 and leftovers(out) == []


def test_a_results_file_killed_while_rewritten_keeps_its_old_content(tmp_path):
    out = tmp_path / "result.json"
    old = {"rows": list(range(10))}
    new = {"rows": list(range(100_000))}
    code = f"from clothlib.results import save_json; save_json({str(out)!r}, {{'rows': list(range(100_000))}})"
    command = ["-c", code]
    from clothlib.results import load_json, save_json

    save_json(out, old)
    killed(run(command, "os:replace:1"))
    assert load_json(out, "a test") == old and leftovers(tmp_path)
    ok(run(command))
    assert load_json(out, "a test") == new and leftovers(tmp_path) == []


# --- encode ------------------------------------------------------------------------------------------------


def test_an_encode_killed_midway_is_incomplete_until_rerun_and_two_at_once_agree(cache_in, small_set, tmp_path):
    from clothlib.hashing.config import HashingConfig
    from clothlib.hashing.export import encode
    from clothlib.hashing.training import train
    from clothlib.results import MissingResultError
    from clothlib.retrieval import export_files
    from clothlib.retrieval.evaluation import load_export

    config = HashingConfig(model="catt3_net", bits=16, epochs=1, batch_size=8, c2s=str(cache_in), max_items=8)
    checkpoint = train(config, tmp_path / "hash.pt", progress=False)
    with one_thread():
        clean = export_files(encode(checkpoint, "test", progress=False))  # also caches the test split's features
    cache = str(small_set[1])

    def command(out: Path) -> list[str]:
        return ["-m", "clothlib.hashing", "encode", "--checkpoint", str(checkpoint), "--split", "test",
                "--out", str(out), "--quiet"]

    def same_as_clean(out: Path) -> bool:
        written = export_files(load_export(out))
        return written.keys() == clean.keys() and all((written[k] == clean[k]).all() for k in clean)

    out = tmp_path / "codes"
    killed(run(command(out), "os:replace:2", CLOTHLIB_CACHE=cache))  # one array renamed, no export.json
    with pytest.raises(MissingResultError, match="not a complete export"):
        load_export(out)
    ok(run(command(out), CLOTHLIB_CACHE=cache))
    assert same_as_clean(out) and leftovers(out) == []

    both = [subprocess.Popen([sys.executable, *command(tmp_path / "both")], cwd=REPO, env=_env(CLOTHLIB_CACHE=cache),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in both:
        assert process.wait(120) == 0, process.stderr.read()
    assert same_as_clean(tmp_path / "both") and leftovers(tmp_path / "both") == []
