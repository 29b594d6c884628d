"""Page writes on background threads, so the encoder works on the next batch while Milvus takes this one.

At most `depth` writes queued or running, on `threads` threads (default one: writes run in submission
order). With several threads, batches land in any order — the job's crash safety does not need their order
(each page's tokens are written before its row, within one write, and every upsert is keyed by page) — but
each write's `done` still runs on the caller's thread in submission order, so a document is completed only
after every write before it has landed. Memory stays bounded by `depth`. A write's error surfaces at the next
`submit` or at `drain`.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class BackgroundWriter:
    """Args: depth: writes queued or running at once (1: one batch written while the next is prepared).
    threads: writes running at once (`depth` is raised to it; Milvus takes concurrent upserts faster than
    one stream: 1.4x with 2 threads on a 2-core machine, bench/token_writes.py)."""

    def __init__(self, depth: int = 1, threads: int = 1) -> None:
        if depth < 1 or threads < 1:
            raise ValueError("depth and threads must be >= 1")
        self.depth = max(depth, threads)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="vtrag-writer")
        self._pending: deque[tuple[Future[None], Callable[[], None]]] = deque()

    def submit(self, write: Callable[[], None], done: Callable[[], None]) -> None:
        """Queue `write`; `done` runs on the caller's thread once it has succeeded (progress, counts)."""
        while len(self._pending) >= self.depth:
            self._finish_one()
        self._pending.append((self._pool.submit(write), done))

    def _finish_one(self) -> None:
        future, done = self._pending.popleft()
        future.result()
        done()

    def drain(self) -> None:
        """Wait for every queued write; raises the first one's error (later ones still finish first)."""
        try:
            while self._pending:
                self._finish_one()
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Wait for queued writes to end, ignoring their errors (the caller is already failing)."""
        while self._pending:
            future, _ = self._pending.popleft()
            with contextlib.suppress(Exception):  # the first error is already being raised
                future.result()

    def close(self) -> None:
        self.abandon()
        self._pool.shutdown()


class InOrder:
    """Calls run one at a time on a thread of their own, in the order submitted (a build completes its
    documents there, so the flushes and manifest writes that takes keep off the thread feeding the encoder).
    A call's error surfaces at the next `submit` or at `wait`."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._pending: deque[Future[Any]] = deque()

    def submit(self, call: Callable[..., Any], *args: Any) -> None:
        self._reap(wait=False)
        self._pending.append(self._pool.submit(call, *args))

    def wait(self) -> None:
        """Wait for every submitted call; raises the first error."""
        self._reap(wait=True)

    def _reap(self, wait: bool) -> None:
        while self._pending and (wait or self._pending[0].done()):
            self._pending.popleft().result()

    def close(self) -> None:
        """Drop calls not yet started and wait for the running one (errors ignored: the build is failing)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
