"""Token writes in writer processes (retriever/token_writers.py), on both engines: what they store, what
they replace, how their failures come back."""

from __future__ import annotations

import os
import pickle
import signal
from pathlib import Path

import pytest
import torch

from retriever.errors import RetrieverError, StoreLockedError, WriteLostError
from retriever.filters import Filter
from retriever.records import IndexConfig
from retriever.schema import collection_names
from retriever.store import IndexStore
from retriever.token_writers import _shared, shared_endpoint
from tests.retriever.helpers import TEXT_DIM, make_doc, make_page


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view({2: torch.int16, 4: torch.int32}[t.element_size()])


def test_writer_processes_store_what_the_thread_would_and_replace_longer_versions(store: IndexStore) -> None:
    batch = torch.randn(3, 273, 1280).to(torch.bfloat16)  # one encode batch; each page a slice of it
    fp32 = torch.randn(17, 1280)
    writers = store.token_writers(2)
    assert writers is not None
    try:
        store.begin_doc(make_doc("d", pages=4))
        tokens = {1: batch[0], 2: batch[1], 3: batch[2], 4: fp32}
        store.write_pages([make_page("d", n, f"p{n}") for n in tokens], tokens, writers=writers)
        got = store.get_tokens([f"d:{n}" for n in tokens])
        for n, tensor in tokens.items():
            assert got[f"d:{n}"].dtype == tensor.dtype and torch.equal(_bits(got[f"d:{n}"]), _bits(tensor))
        # A shorter rewrite through the processes drops the chunks past its end (replace=True).
        short = torch.randn(2, 1280).to(torch.bfloat16)
        store.write_pages([make_page("d", 1, "p1")], {1: short}, writers=writers)
        assert torch.equal(_bits(store.get_tokens(["d:1"])["d:1"]), _bits(short))
        tokens_name = collection_names(store.name).tokens
        assert store._conn.count(tokens_name, Filter("page_id == {p}", {"p": "d:1"})) == 1  # noqa: SLF001
    finally:
        writers.close()


def test_a_page_sliced_from_a_batch_goes_to_shared_memory_alone() -> None:
    batch = torch.randn(64, 273, 1280).to(torch.bfloat16)
    segment, placed = _shared({"d:6": batch[5], "d:7": torch.arange(6.0).reshape(2, 3)})
    try:
        assert placed == [("d:6", "bfloat16", (273, 1280), 0, batch[5].nbytes),
                          ("d:7", "float32", (2, 3), batch[5].nbytes, 24)]  # fmt: skip
        assert batch[5].nbytes + 24 <= segment.size < 2 * batch[5].nbytes  # not the 64 pages' storage
        copied = torch.frombuffer(segment.buf, dtype=torch.uint8, count=batch[5].nbytes)
        assert torch.equal(copied, batch[5].reshape(-1).view(torch.uint8))
        del copied
    finally:
        segment.close()
        segment.unlink()


def test_a_lossy_codec_refuses_nan_rows_in_the_process_as_in_the_thread(tmp_path: Path) -> None:
    config = IndexConfig("test-mini", TEXT_DIM, "base", encoder="e", vision_dim=6, token_codec="int8")
    with IndexStore.open(tmp_path / "q.db", config) as store:
        writers = store.token_writers(1)
        assert writers is not None
        try:
            store.begin_doc(make_doc("d"))
            bad = torch.full((4, 8), float("nan"))
            with pytest.raises(ValueError, match="d:1"):
                store.write_pages([make_page("d", 1, "p")], {1: bad}, writers=writers)
            assert store.existing_pages("d") == set()  # no page row without its tokens
        finally:
            writers.close()


def test_a_killed_writer_process_stops_the_write_with_a_retriever_error(tmp_path: Path) -> None:
    with IndexStore.open(tmp_path / "k.db", IndexConfig("test-mini", TEXT_DIM, "base")) as store:
        writers = store.token_writers(1)
        assert writers is not None
        try:
            store.begin_doc(make_doc("d"))
            store.write_pages([make_page("d", 1, "p")], {1: torch.randn(4, 8)}, writers=writers)
            for pid in list(writers._pool._processes):  # noqa: SLF001 - the pool's own processes
                os.kill(pid, signal.SIGKILL)
            with pytest.raises(RetrieverError, match="token writer process died"):
                store.write_pages([make_page("d", 2, "p")], {2: torch.randn(4, 8)}, writers=writers)
            assert store.existing_pages("d") == {1}
        finally:
            writers.close()


def test_no_writer_processes_where_none_can_reach_the_store(tmp_path: Path) -> None:
    with IndexStore.open(tmp_path / "n.db", IndexConfig("test-mini", TEXT_DIM, "base")) as store:
        assert store.token_writers(0) is None
        conn = store._conn  # noqa: SLF001 - the engine decides, not the store
        assert shared_endpoint(conn) is not None  # milvus-lite 2.5: the core's socket

        class InProcess:  # milvus-lite 3.x: its server runs inside this process
            engine = conn.engine.__class__(**{**conn.engine.__dict__, "in_process": True})
            lite_path = conn.lite_path
            uri = conn.uri

        assert shared_endpoint(InProcess()) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [WriteLostError("upsert into t", "disk is full"), StoreLockedError("/x.db"), RetrieverError("m", True)],
)
def test_retriever_errors_come_back_whole_from_another_process(error: RetrieverError) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert (back.message, back.retriable, str(back)) == (error.message, error.retriable, str(error))
    assert back.__dict__ == error.__dict__
