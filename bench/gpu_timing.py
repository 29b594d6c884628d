"""Timing and reporting for the GPU benchmarks (bench/gpu.py, bench/gpu_profile.py): a result row, the median
of a callable timed with CUDA events (perf_counter on a CPU), and the markdown table of results."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Result:
    backend: str
    metric: str
    value: float
    unit: str
    note: str = ""


class Clock:
    """Median wall time of a callable: CUDA events around it on GPU, perf_counter on CPU."""

    def __init__(self, device: torch.device, warmup: int, iters: int) -> None:
        self.device, self.warmup, self.iters = device, warmup, iters

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def median(self, fn: Callable[[], object]) -> float:
        for _ in range(self.warmup):
            fn()
        self._sync()
        times = []
        for _ in range(self.iters):
            if self.device.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / 1000)
            else:
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        return statistics.median(times)


def table(results: list[Result]) -> str:
    lines = ["| backend | metric | value | unit | notes |", "|---|---|---:|---|---|"]
    for r in results:
        value = "n/a" if r.value != r.value else f"{r.value:.1f}" if r.value < 1000 else f"{r.value:.0f}"
        lines.append(f"| {r.backend} | {r.metric} | {value} | {r.unit} | {r.note} |")
    return "\n".join(lines)
