"""The demo server's limits (``make demo``): app/voila.py caps the kernels alive at once, app/voila.json
culls idle ones, and the Makefile passes the cap. Checked against a real kernel manager starting a real
kernel: over the cap, a page load gets a 503 and starts nothing."""
from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from tornado.web import HTTPError
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

APP = Path(__file__).resolve().parents[1] / "app"


def _capped_class():
    config = PyFileConfigLoader("voila.py", path=str(APP)).load_config()
    return config.VoilaConfiguration.multi_kernel_manager_class


def test_the_kernel_manager_refuses_a_kernel_over_the_cap(tmp_path):
    config = Config()
    config.CappedKernelManager.max_kernels = 1
    manager = _capped_class()(config=config, connection_dir=str(tmp_path))

    async def two_pages():
        first = await manager.start_kernel(kernel_name="python3")
        try:
            with pytest.raises(HTTPError) as refused:
                await manager.start_kernel(kernel_name="python3")
            assert refused.value.status_code == 503 and "full" in refused.value.log_message
            assert manager.list_kernel_ids() == [first]
        finally:
            await manager.shutdown_all(now=True)
        await manager.start_kernel(kernel_name="python3")  # a page closed: room again
        await manager.shutdown_all(now=True)

    asyncio.run(two_pages())


def test_idle_kernels_are_culled_and_make_demo_passes_the_cap():
    culling = json.loads((APP / "voila.json").read_text())["MappingKernelManager"]
    assert culling["cull_idle_timeout"] > 0 and 0 < culling["cull_interval"] <= culling["cull_idle_timeout"]
    assert culling["cull_connected"] is True  # a tab left open must not hold a kernel for ever
    makefile = (APP.parent / "Makefile").read_text()
    cap = int(re.search(r"^DEMO_KERNELS \?= (\d+)", makefile, re.M).group(1))
    assert "--CappedKernelManager.max_kernels=$(DEMO_KERNELS)" in makefile and cap >= 1
