"""book/execute.py (``make course`` runs the notebooks with it): a reply whose ZeroMQ wake-up was
missed is found within a second, not at the end of the cell's timeout; no message within the
timeout is still ``Empty``."""
from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path
from queue import Empty

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("book_execute", REPO / "book" / "execute.py")
execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)


class MissedWakeUp:
    """A socket whose message is there from ``ready_at`` on, but whose poll only notices it when its
    own timeout ends (as pyzmq's asyncio poll does when the edge was consumed elsewhere)."""

    def __init__(self, ready_at: float | None):
        self.ready_at, self.polls = ready_at, []

    async def poll(self, timeout_ms):
        self.polls.append(timeout_ms)
        await asyncio.sleep((timeout_ms or 0) / 1000)
        return int(self.ready_at is not None and time.monotonic() >= self.ready_at)


class Channel:
    def __init__(self, socket):
        self.socket = socket

    async def _recv(self):
        return {"msg_type": "execute_reply"}


def test_a_missed_wake_up_costs_a_second_not_the_cell_timeout():
    channel = Channel(MissedWakeUp(ready_at=time.monotonic() + 0.2))
    started = time.monotonic()
    message = asyncio.run(execute.get_msg(channel, timeout=1800))
    assert message == {"msg_type": "execute_reply"}
    assert time.monotonic() - started < 2 * execute.POLL_SLICE_S + 0.5
    assert all(ms <= 1000 * execute.POLL_SLICE_S for ms in channel.socket.polls)


def test_nothing_within_the_timeout_is_empty():
    channel = Channel(MissedWakeUp(ready_at=None))
    started = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(execute.get_msg(channel, timeout=1.5))
    assert 1.4 < time.monotonic() - started < 3


def test_the_patch_is_what_jupyter_client_uses_in_the_course_run():
    from jupyter_client.channels import AsyncZMQSocketChannel

    assert AsyncZMQSocketChannel.get_msg is execute.get_msg
