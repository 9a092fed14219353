"""Helpers for the browser tests: free ports, servers on 127.0.0.1 started and stopped in their own
process group, bounded waits. The fixtures (the browser itself) are in ``conftest.py``."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "build" / "browser"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    """Until ``url`` answers (any HTTP status below 500), the server dies, or ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering; its log:\n"
                               + log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as err:  # the server answers, if only with "not found"
            if err.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s; the server's log:\n" + log.read_text()[-3000:])


@contextlib.contextmanager
def server(command: list[str], url: str, log: Path, cwd: Path = REPO, env: dict | None = None,
           timeout: float = 120):
    """Run ``command`` (a server bound to 127.0.0.1) in its own process group until ``url`` answers;
    stop the whole group afterwards (SIGTERM, then SIGKILL after 15 s)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(url, process, timeout, log)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(15)


def venv_tool(name: str) -> str:
    """A console script of the Python running the tests (the project's .venv)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: pip install -e '.[dev]' installs {name}")
    return str(path)


def wait_until(condition, timeout: float, message: str, interval: float = 0.25):
    """The first true value of ``condition()`` within ``timeout`` seconds, else a TimeoutError
    saying ``message`` (a bounded wait: a test never hangs on a page that never comes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} (waited {timeout:.0f} s)")
        time.sleep(interval)
