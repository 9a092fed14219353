"""Atomic file writes (an artifact is either complete on disk or absent, never half-written) and
file checksums (an artifact is the one it claims to be); staging folders for what is written as a
folder, swept once their writer is dead; locks, so that two writers of one output take turns; worker
processes that die with their writer."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temp file beside ``path``; rename it over ``path`` only if the block succeeds. A temp
    file left by a killed writer of ``path`` is removed first (its name carries its writer's pid)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_PARTIAL.format(name=path.name, pid=os.getpid()),
                               suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private (0600); give it a normal file's mode
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# A temp file's or staging folder's name carries its writer's process id, so the next run can tell one
# left by a killed writer (swept) from a concurrent live writer's (left alone).
_PARTIAL = ".{name}.partial-{pid}-"


def staging_folder(target: str | os.PathLike) -> Path:
    """A new empty folder beside ``target`` to build it in before one rename moves it into place.

    Stale staging folders of ``target`` (their writer is dead: killed, out of memory) are swept
    first, so a killed run leaves at most one behind, and only until the next run."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target)
    return Path(tempfile.mkdtemp(prefix=_PARTIAL.format(name=target.name, pid=os.getpid()), dir=target.parent))


def _sweep(target: Path) -> None:
    """Remove the temp files and staging folders of ``target`` whose writer is dead."""
    for left in target.parent.glob(f".{target.name}.partial-*"):
        if not _alive(_owner(left.name[len(f".{target.name}.partial-"):])):
            if left.is_dir():
                shutil.rmtree(left, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    left.unlink()


def _owner(suffix: str) -> int | None:
    """The writer's pid in a staging folder's name (None for a name without one: an older clothlib's)."""
    pid = suffix.split("-", 1)[0]
    return int(pid) if pid.isdigit() and "-" in suffix else None


def _alive(pid: int | None) -> bool:
    """Whether process ``pid`` runs (a zombie, killed and not yet reaped, does not)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # no /proc (macOS): os.kill's answer stands
        return True


@contextlib.contextmanager
def exclusive(target: str | os.PathLike, waiting: str = "") -> Iterator[None]:
    """Hold the lock of ``target`` (the file ``.<name>.lock`` beside it) for the block, waiting while
    another process holds it, and print ``waiting`` once if it has to wait.

    Two writers of one output take turns instead of racing (two downloads into one folder: the second
    failed with a raw "Directory not empty"); the second should then find the first one's result. The
    lock is the operating system's (``flock``), so it dies with its holder, ``kill -9`` included; the
    holder removes the file on leaving (a killed one leaves it for the next holder to remove). Where
    there is no ``fcntl`` (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f".{target.name}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting, flush=True)
                waiting = ""
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # still the file at ``path``, not one the previous holder removed while this one waited
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        os.unlink(path)
        os.close(fd)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of the file at ``path``, read in chunks (datasets' photos, exports' arrays)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def die_with_parent(parent: int) -> None:
    """A worker process's ``initializer``: end this process when ``parent`` (the writer that started
    it) dies, ``kill -9`` and the out-of-memory killer included; otherwise the workers of a killed
    build live on, hung, holding their memory.

    Linux: the kernel sends the worker SIGKILL (``PR_SET_PDEATHSIG``); elsewhere a daemon thread
    polls the parent's pid every second."""
    import ctypes
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)
