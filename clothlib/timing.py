"""Timing for the benchmarks: the least-disturbed of several runs, plus how many cores it kept busy."""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def best_of(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Fastest wall time of ``repeats`` calls after one warm-up, and CPU time / wall time over them
    (about 1.0 for one busy core, 2.0 for two)."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), sum(cpus) / max(sum(walls), 1e-12)


def latency(seconds: list[float], prefix: str) -> dict:
    """p50 / p95 / max of per-item seconds, rounded to milliseconds: ``{prefix}_p50``, ``_p95``, ``_max``."""
    p50, p95 = np.percentile(seconds, [50, 95])
    return {f"{prefix}_p50": round(float(p50), 3), f"{prefix}_p95": round(float(p95), 3),
            f"{prefix}_max": round(float(max(seconds)), 3)}
