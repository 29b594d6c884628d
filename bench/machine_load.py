"""How busy the machine was while a benchmark ran: the GPU (nvidia-smi samples, with their times, so a window
such as "after the first written batch" can be read) and the host's cores (/proc/stat)."""

from __future__ import annotations

import math
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path


def host_cpu_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (/proc/stat): how busy the host's cores were."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class GpuSampler:
    """`nvidia-smi` utilisation every 200 ms while running: the fraction of time a kernel was executing."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (perf_counter, busy fraction)
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuSampler:
        cmd = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200"]
        if shutil.which(cmd[0]) is None:
            return self  # no GPU (the --tiny smoke test): busy stays n/a
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.strip().isdigit():
                self.samples.append((time.perf_counter(), float(line) / 100))

    def __exit__(self, *_: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait()

    @property
    def busy(self) -> float:
        return self.busy_between(-math.inf, math.inf)

    def busy_between(self, start: float, end: float) -> float:
        """The mean of the samples taken between two `time.perf_counter` readings."""
        kept = [busy for at, busy in self.samples if start <= at <= end]
        return statistics.fmean(kept) if kept else float("nan")
