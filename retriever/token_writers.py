"""Vision-token writes in processes of their own, beside the one that feeds the GPU.

A Base page's tokens are ~700 KB. Packing them (byte planes, zstd, sha256, base64), pymilvus' building of
the upsert and gRPC's serialisation of it hold the interpreter lock for ~2 ms a page (py-spy,
docs/BENCHMARKS.md): at the 300 pages/s a GPU build aims at, most of the one interpreter that also renders
batches into pinned memory, embeds and launches the encoder. Here a pool of writer processes, each with its
own connection to the same Milvus, does that work; the caller's thread only copies the raw rows into shared
memory (a numpy copy, which releases the lock: pickling them through the pool's pipe held it for 47% of the
build's GIL samples) and waits, then writes the page rows itself, so "tokens before page rows" holds.
Each write's segment is unlinked once its write ends; a killed build's segments are unlinked by
multiprocessing's resource tracker.

Off by default (settings.write_processes): measured so far they are no faster than the writer threads, on
a 2-core VM nor on an H100 machine's 16 cores (docs/BENCHMARKS.md, fifth session); each process also takes
~1.6 s of CPU to start (torch, pymilvus).

What another process can reach: a Milvus server (its URI) and milvus-lite 2.5's core (its Unix socket).
milvus-lite 3.x runs inside our process and cannot be shared: `start_token_writers` gives None there, and
the caller writes tokens on its own threads.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.shared_memory import SharedMemory
from typing import TYPE_CHECKING, Any

from pymilvus import MilvusClient

from retriever.connection import LITE_GRPC_OPTIONS, Connection, open_connection
from retriever.engine import Engine, is_server_uri
from retriever.errors import RetrieverError, milvus_errors
from retriever.lite_opens import lite_endpoint

if TYPE_CHECKING:
    import torch

# Where a page's tensor lies in a write's shared segment: (page id, dtype name, shape, offset, bytes).
Placed = tuple[str, str, tuple[int, ...], int, int]


def shared_endpoint(conn: Connection) -> str | None:
    """What another process of this machine connects to for the store `conn` has open.

    Returns:
        The server URI, the 2.5 core's socket URI, or None for an in-process engine (milvus-lite 3.x).
    """
    if not conn.engine.embedded:
        return conn.uri
    if conn.engine.in_process or conn.lite_path is None:
        return None
    return lite_endpoint(conn.lite_path)


class TokenWriters:
    """A pool of token-writer processes over one Milvus. Build with `start_token_writers`; `close` when done.

    Args:
        conn: the caller's connection (lost-write checks of the 2.5 core read its log through it).
        endpoint: what the processes connect to (`shared_endpoint`).
        processes: pool size.
    """

    def __init__(self, conn: Connection, endpoint: str, processes: int) -> None:
        if processes < 1:
            raise ValueError("token writers need at least one process")
        self._conn = conn
        # spawn: never fork a process whose gRPC threads are running (the caller's Milvus connection is).
        self._pool = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_connect,
            initargs=(endpoint, conn.engine),
        )
        # Processes start on demand: ask for them all now, so they import and connect (~2 s) while the
        # caller loads its model, not when the first batch is written.
        for _ in range(processes):
            self._pool.submit(_ready)

    def write(
        self,
        collection: str,
        doc_id: str,
        tensors: Mapping[str, torch.Tensor],
        *,
        replace: bool,
        token_codec: str,
    ) -> None:
        """`retriever.tokens.write_tokens` in a writer process; returns once the rows are stored.

        Raises:
            RetrieverError: Milvus failed the write, or a writer process died (the build stops; a rerun
                resumes it).
            ValueError: a tensor the token codec cannot take (NaN under a lossy codec).
        """
        segment, placed = _shared(tensors)
        try:
            self._pool.submit(_write, collection, doc_id, segment.name, placed, replace, token_codec).result()
        except BrokenProcessPool as exc:
            raise RetrieverError(
                f"a token writer process died while writing {collection}: {exc}. Nothing of the document "
                "being written becomes visible; run the build again to resume it."
            ) from exc
        finally:
            segment.close()
            segment.unlink()
        self._conn.check_lost_writes(f"upsert into {collection}")

    def close(self) -> None:
        """Stop the processes once their writes have ended."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def start_token_writers(conn: Connection, processes: int) -> TokenWriters | None:
    """A pool of `processes` token writers over the store `conn` has open, or None where other processes
    cannot reach it (milvus-lite 3.x) or none are asked for."""
    endpoint = shared_endpoint(conn)
    if processes < 1 or endpoint is None:
        return None
    return TokenWriters(conn, endpoint, processes)


def _shared(tensors: Mapping[str, torch.Tensor]) -> tuple[SharedMemory, list[Placed]]:
    """The tensors' bytes, one after the other, in a new shared-memory segment (the caller unlinks it).
    Their dtypes were checked by `IndexStore.write_pages` (`tokens.check_page_tokens`)."""
    import numpy as np
    import torch

    flats, placed, offset = [], [], 0
    for page_id, tensor in tensors.items():
        flat = tensor.detach().to("cpu").contiguous()
        name = str(flat.dtype).removeprefix("torch.")
        size = flat.numel() * flat.element_size()
        flats.append(flat.reshape(-1).view(torch.uint8))
        placed.append((page_id, name, tuple(flat.shape), offset, size))
        offset += size
    segment = SharedMemory(create=True, size=max(offset, 1))
    try:
        # numpy, not torch: one memcpy without the GIL, where torch's copy would start an OpenMP team on
        # every writer thread (cores' worth of spinning threads each).
        target = np.ndarray((segment.size,), dtype=np.uint8, buffer=segment.buf)
        for flat, (_, _, _, start, size) in zip(flats, placed, strict=True):
            target[start : start + size] = flat.numpy()
        del target  # the segment cannot close while an array maps it
    except BaseException:
        segment.close()
        segment.unlink()
        raise
    return segment, placed


# -- in the writer processes -----------------------------------------------------------------------------

_worker_conn: Connection | None = None


def _connect(endpoint: str, engine: Engine) -> None:
    global _worker_conn
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the build; the build stops its writers
    import torch  # noqa: F401 - imported here (~1 s), while the build starts, not at the first write

    if is_server_uri(endpoint):
        _worker_conn = open_connection(endpoint)
        return
    with milvus_errors(f"connect to {endpoint}"):  # the 2.5 core's Unix socket
        client = MilvusClient(uri=endpoint, grpc_options=LITE_GRPC_OPTIONS)
    # lite_path None: this process neither owns the core nor reads its log (the caller checks it).
    _worker_conn = Connection(client, endpoint, None, engine)


def _ready() -> None:
    """Nothing: submitted once per process so the pool starts them all."""


def _write(
    collection: str, doc_id: str, segment_name: str, placed: list[Placed], replace: bool, token_codec: str
) -> None:
    import numpy as np
    import torch

    from retriever.tokens import write_tokens

    if _worker_conn is None:
        raise RetrieverError("token writer process has no connection")
    segment = _attach(segment_name)
    try:
        data = np.ndarray((segment.size,), dtype=np.uint8, buffer=segment.buf)
        tensors: dict[str, Any] = {
            page_id: torch.from_numpy(data[start : start + size]).view(getattr(torch, dtype)).reshape(shape)
            for page_id, dtype, shape, start, size in placed
        }  # views of the segment: packing reads it in place
        write_tokens(_worker_conn, collection, doc_id, tensors, replace=replace, token_codec=token_codec)
        del tensors, data
    finally:
        with contextlib.suppress(BufferError):  # a view still alive: the mapping goes with it
            segment.close()


def _attach(name: str) -> SharedMemory:
    """The caller's segment, which the caller unlinks (Python 3.13 lets a process attach untracked)."""
    try:
        return SharedMemory(name=name, track=False)  # type: ignore[call-arg]
    except TypeError:  # before 3.13: tracked by the resource tracker the caller shares with us
        return SharedMemory(name=name)
