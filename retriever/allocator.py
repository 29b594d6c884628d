"""Keep freed large buffers in the process heap while Milvus Lite runs in it (glibc only).

Milvus Lite serves queries from threads inside our own process. A token read moves ~3 MB per 5 Base pages
through its buffers; glibc serves blocks that large with mmap and hands them back to the kernel on free (and
trims the heap top past 128 KiB), so the next read faults the same memory in again: 3,000-4,000 page faults,
8-10 ms of a ~35 ms read on this VM (measured with strace and bench/token_fetch.py). Raising the mmap
threshold to 32 MiB and the trim threshold to 256 MiB keeps those blocks for reuse — the state glibc's own
dynamic threshold reaches after one 32 MiB free — at the price of up to 256 MiB of freed heap kept mapped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

# mallopt() parameter numbers from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's ceiling for this setting on 64-bit
TRIM_THRESHOLD_BYTES = 256 * 2**20

_done = False
_lock = threading.Lock()


def keep_freed_buffers() -> bool:
    """Apply the two thresholds once per process.

    Returns:
        True when glibc took them (now or on an earlier call); False elsewhere (musl, macOS, Windows).
    """
    global _done
    with _lock:
        if _done:
            return True
        if not sys.platform.startswith("linux"):
            return False
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        # mallopt returns 1 on success; musl exports a stub that ignores its arguments and returns 0.
        ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
        ok = ok and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
        _done = ok
        return ok
