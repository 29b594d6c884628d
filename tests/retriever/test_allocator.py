"""The glibc allocator thresholds set while Milvus Lite runs in-process (retriever/allocator.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from retriever import allocator

ROOT = Path(__file__).resolve().parents[2]

# Where glibc puts a 16 MiB block: from the heap (kept for reuse on free) or a fresh mmap (unmapped on free).
_WHERE_16MIB = """
import ctypes, sys
from retriever.allocator import keep_freed_buffers
if sys.argv[1] == "tuned":
    assert keep_freed_buffers()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
addr = libc.malloc(16 * 2**20)
for line in open("/proc/self/maps"):
    span, *rest = line.split()
    lo, hi = (int(x, 16) for x in span.split("-"))
    if lo <= addr < hi:
        print("heap" if line.rstrip().endswith("[heap]") else "mmap")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_large_blocks_come_from_the_heap_once_tuned() -> None:
    def where(mode: str) -> str:
        run = subprocess.run(
            [sys.executable, "-c", _WHERE_16MIB, mode], capture_output=True, text=True, cwd=ROOT
        )
        return run.stdout.strip()

    assert where("default") == "mmap"
    assert where("tuned") == "heap"
    assert allocator.keep_freed_buffers() is True and allocator.keep_freed_buffers() is True  # idempotent


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_done", False)
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_buffers() is False
