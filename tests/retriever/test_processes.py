"""Cross-process behaviour: the Milvus Lite lock, and the server-URI path via `retriever.lite_server`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from retriever.connection import open_connection
from retriever.engine import lite_engine
from retriever.errors import StoreLockedError, StoreUnavailableError
from retriever.schema import collection_names, docs_schema, pages_properties, pages_schema, tokens_schema
from retriever.store import IndexStore
from tests.retriever.helpers import CONFIG, add_doc, free_port, make_doc, make_page, unit

REPO = Path(__file__).resolve().parents[2]

# A child that holds the index open until its stdin closes.
_HOLDER = """
import sys
from retriever.store import IndexStore
store = IndexStore.open(sys.argv[1])
print("ready", flush=True)
sys.stdin.read()
store.close()
"""


def _held_by_a_child(db_path: Path) -> subprocess.Popen[str]:
    """Write one document, close the index, and have a child process open it (and keep it open)."""
    with IndexStore.open(db_path, CONFIG) as store:
        add_doc(store, "d", [make_page("d", 1, "held")])
    # Our close released the data dir, so the child can take it.
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db_path)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def test_second_process_gets_store_locked_error(db_path: Path) -> None:
    child = _held_by_a_child(db_path)
    try:
        with pytest.raises(StoreLockedError) as info:
            IndexStore.open(db_path)
        assert not info.value.retriable and "vtrag serve" in str(info.value) and "--server" in str(info.value)
    finally:
        child.communicate(input="", timeout=60)
    with IndexStore.open(db_path) as store:  # released again once the holder exits
        assert store.get_doc("d") is not None


def test_unreachable_server_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError) as info:
        IndexStore.open(f"http://127.0.0.1:{free_port()}", CONFIG)
    assert info.value.retriable


def test_server_uri_path(server_uri: str) -> None:
    toks = torch.randn(273, 1280).to(torch.bfloat16)
    with IndexStore.open(server_uri, CONFIG, name="two_clients") as store:
        store.begin_doc(make_doc("s"))
        store.write_pages([make_page("s", 1, "served over grpc", unit(0))], {1: toks})
        store.complete_doc("s")
    with IndexStore.open(server_uri, name="two_clients") as store:  # a second client, like another process
        assert store.config == CONFIG
        assert [h.page.page_id for h in store.search("grpc", unit(0), top_k=3)] == ["s:1"]
        assert torch.equal(store.get_tokens(["s:1"])["s:1"].view(torch.int16), toks.view(torch.int16))
        assert store.stats()["pages"] == 1


def test_kill_9_of_the_holder_frees_the_index(db_path: Path) -> None:
    """The engine a killed process started goes with it, and the next process opens the same data."""
    import psutil

    child = _held_by_a_child(db_path)
    engines = psutil.Process(child.pid).children(recursive=True)
    assert engines or lite_engine().in_process  # 2.5: the Milvus binary; 3.x runs inside the child
    child.kill()
    child.wait(timeout=30)
    _, alive = psutil.wait_procs(engines, timeout=30)
    assert not alive, f"engine processes outlived their killed parent: {alive}"
    with IndexStore.open(db_path) as store:
        assert store.get_doc("d") is not None
        assert [h.page.page_id for h in store.search("held", None, top_k=1)] == ["d:1"]


def test_an_opener_finishes_the_index_a_concurrent_creator_is_making(server_uri: str) -> None:
    """Another process has made tokens and docs and just the pages collection, not yet its indexes (a pages
    collection without indexes cannot load): opening now must finish the job, not fail."""
    names = collection_names("midway")
    conn = open_connection(server_uri)
    try:
        for name, (schema, idx) in ((names.tokens, tokens_schema()), (names.docs, docs_schema())):
            conn.client.create_collection(name, schema=schema, consistency_level="Strong")
            conn.client.create_index(name, idx)
            conn.ensure_loaded(name)
        schema = pages_schema(CONFIG, conn.engine)[0]
        conn.client.create_collection(
            names.pages, schema=schema, consistency_level="Strong", properties=pages_properties(CONFIG)
        )
        assert not conn.client.list_indexes(names.pages)
    finally:
        conn.close()
    with IndexStore.open(server_uri, CONFIG, name="midway") as store:
        add_doc(store, "m", [make_page("m", 1, "finished by the second opener", unit(1))])
        assert [h.page.page_id for h in store.search("opener", unit(1), top_k=1)] == ["m:1"]
