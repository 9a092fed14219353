"""``jupyter nbconvert``, with the kernel client's waits for a reply polled once a second: what
``make course`` (and so ``make book``) runs the notebooks with. Same arguments as nbconvert.

Why: jupyter_client's asyncio channels wait for a reply with one ``socket.poll(timeout)`` over the
whole cell timeout, and ZeroMQ signals arrivals by edge; when the edge is missed the reply sits in
the socket until the poll times out (pyzmq then polls once more and finds it). Measured here: a
widget cell of notebooks 01 or 06 stalled for the whole cell timeout (200-1800 s) with the kernel
idle in about one run in three, with ipykernel 6.31 and 7.4 alike. Polling in one-second slices
bounds such a stall to a second; nothing else changes.
"""
from __future__ import annotations

import sys
import time
from queue import Empty

from jupyter_client.channels import AsyncZMQSocketChannel
from nbconvert.nbconvertapp import main

POLL_SLICE_S = 1.0


async def get_msg(self, timeout: float | None = None) -> dict:
    """The next message of the channel within ``timeout`` seconds (None: no limit), else Empty."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = POLL_SLICE_S if deadline is None else max(0.0, min(POLL_SLICE_S, deadline - time.monotonic()))
        if await self.socket.poll(int(wait * 1000)):
            return await self._recv()
        if deadline is not None and time.monotonic() >= deadline:
            raise Empty


AsyncZMQSocketChannel.get_msg = get_msg

if __name__ == "__main__":
    sys.exit(main())
