"""IndexStore against a real Milvus Lite file: open/config, manifest, pages, deletes, stats."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from retriever import manifest
from retriever.errors import IndexConfigMismatchError, IndexNotFoundError, RetrieverError
from retriever.records import IndexConfig
from retriever.schema import VARCHAR_MAX_BYTES, collection_names
from retriever.store import IndexStore
from tests.retriever.helpers import CONFIG, VISION_CONFIG, add_doc, make_doc, make_page, unit


def _count(store: IndexStore, collection: str) -> int:
    from retriever.filters import Filter

    return store._conn.count(collection, Filter())


def test_open_without_config_on_an_empty_dir_is_index_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nothing" / "vtrag.db"
    with pytest.raises(IndexNotFoundError, match="vtrag index build"):
        IndexStore.open(path)
    assert not path.exists()  # looking did not create a data dir


def test_open_without_config_when_dir_exists_but_index_does_not(db_path: Path) -> None:
    IndexStore.open(db_path, CONFIG, name="other").close()
    with pytest.raises(IndexNotFoundError):
        IndexStore.open(db_path)


def test_reopen_uses_the_stored_config_and_loads_released_collections(db_path: Path) -> None:
    with IndexStore.open(db_path, CONFIG) as store:
        add_doc(store, "d1", [make_page("d1", 1, "reopened lighthouse")])
    with IndexStore.open(db_path) as store:
        assert store.config == CONFIG
        assert [h.page.page_id for h in store.search("lighthouse", None, top_k=3)] == ["d1:1"]
        assert store.get_doc("d1").status == "complete"  # type: ignore[union-attr]


def test_config_mismatch_is_refused_and_recreate_rebuilds(db_path: Path) -> None:
    with IndexStore.open(db_path, CONFIG) as store:
        add_doc(store, "d1", [make_page("d1", 1, "old data")])
    other = IndexConfig(text_model="test-mini", text_dim=8, mode="large")
    with pytest.raises(IndexConfigMismatchError, match="--recreate") as info:
        IndexStore.open(db_path, other)
    assert "mode=base" in str(info.value) and "mode=large" in str(info.value)
    with pytest.raises(IndexConfigMismatchError):
        IndexStore.open(db_path, VISION_CONFIG)
    with IndexStore.open(db_path, VISION_CONFIG, recreate=True) as store:
        assert store.config == VISION_CONFIG
        assert store.list_docs() == [] and store.stats()["pages"] == 0
        store.begin_doc(make_doc("v1"))
        store.write_pages([make_page("v1", 1, "vision page", vision_vec=unit(2, dim=6))])
        store.complete_doc("v1")
    with IndexStore.open(db_path) as store:
        assert store.config == VISION_CONFIG and [d.doc_id for d in store.list_docs()] == ["v1"]


def test_recreate_needs_a_config(db_path: Path) -> None:
    with pytest.raises(ValueError):
        IndexStore.open(db_path, None, recreate=True)


def test_manifest_lifecycle(store: IndexStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store.get_doc("nope") is None
    store.begin_doc(make_doc("a", pages=2))
    store.begin_doc(replace(make_doc("b"), source="/docs/shared.pdf"))
    store.begin_doc(replace(make_doc("c"), source="/docs/shared.pdf", status="failed", error="encrypted"))
    assert store.get_doc("a").status == "indexing"  # type: ignore[union-attr]
    found = store.docs_by_sources(["/docs/shared.pdf", "/docs/never.pdf", "/docs/shared.pdf"])
    assert {source: {d.doc_id for d in docs} for source, docs in found.items()} == {
        "/docs/shared.pdf": {"b", "c"},
        "/docs/never.pdf": set(),
    }
    monkeypatch.setattr(manifest, "SOURCE_QUERY_LIMIT", 1)  # a plain query's rows reach the cap: iterate
    assert {d.doc_id for d in store.docs_by_sources(["/docs/shared.pdf"])["/docs/shared.pdf"]} == {"b", "c"}
    assert [d.doc_id for d in store.list_docs(status="failed")] == ["c"]
    assert store.list_docs(status="failed")[0].error == "encrypted"
    done = store.complete_doc("a")
    assert done.status == "complete" and abs(done.indexed_at - time.time()) < 60
    assert store.get_doc("a") == done
    assert len(store.list_docs()) == 3
    with pytest.raises(RetrieverError, match="begin_doc"):
        store.complete_doc("unknown")
    with pytest.raises(ValueError, match="status"):
        store.begin_doc(replace(make_doc("x"), status="weird"))  # type: ignore[arg-type]


def test_write_pages_twice_never_duplicates(store: IndexStore) -> None:
    names = collection_names(store.name)
    pages = [make_page("d", n, f"page {n}") for n in (1, 2, 3)]
    toks = {n: torch.randn(5, 16).to(torch.bfloat16) for n in (1, 2, 3)}
    store.begin_doc(make_doc("d", pages=3))
    store.write_pages(pages, toks)
    counts = (_count(store, names.pages), _count(store, names.tokens))
    pages[1].text = "page two, rewritten"
    store.write_pages(pages, toks)
    assert (_count(store, names.pages), _count(store, names.tokens)) == counts == (3, 3)
    assert store.get_pages(["d:2"])[0].text == "page two, rewritten"


def test_existing_pages_after_partial_writes(store: IndexStore) -> None:
    store.begin_doc(make_doc("d", pages=5))
    assert store.existing_pages("d") == set()
    store.write_pages([make_page("d", 1, "one"), make_page("d", 2, "two")])
    store.write_pages([make_page("d", 4, "four")])
    assert store.existing_pages("d") == {1, 2, 4}
    assert store.existing_pages("other") == set()


def test_write_pages_validates_before_writing(store: IndexStore) -> None:
    store.begin_doc(make_doc("d", pages=2))
    with pytest.raises(ValueError, match="dim"):
        store.write_pages([make_page("d", 1, "ok"), make_page("d", 2, "bad", unit(0, dim=3))])
    with pytest.raises(ValueError, match="not being written"):
        store.write_pages([make_page("d", 1, "ok")], {2: torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="one document"):
        store.write_pages([make_page("d", 1, "a"), make_page("e", 1, "b")], {1: torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="dtype"):
        store.write_pages([make_page("d", 1, "a")], {1: torch.zeros(2, 2, dtype=torch.int64)})
    assert store.existing_pages("d") == set()


def test_get_pages_keeps_order_and_optional_vectors(store: IndexStore) -> None:
    add_doc(store, "d", [make_page("d", n, f"page {n}") for n in (1, 2, 3)])
    got = store.get_pages(["d:3", "missing:1", "d:1"])
    assert [p.page_id for p in got] == ["d:3", "d:1"] and got[0].text_vec is None
    assert got[0].lines == make_page("d", 3, "page 3").lines and got[0].width == 612.0
    with_vec = store.get_pages(["d:2"], with_vectors=True)[0]
    assert with_vec.text_vec == pytest.approx(list(unit(2)))


def test_text_over_the_varchar_limit_is_truncated(store: IndexStore) -> None:
    text = "ü" * 20_000 + " needle " + "€" * 20_000  # ~100 KB of UTF-8, the cut lands inside "€"
    add_doc(store, "long", [make_page("long", 1, text)])
    page = store.get_pages(["long:1"])[0]
    assert len(page.text.encode("utf-8")) <= VARCHAR_MAX_BYTES and text.startswith(page.text)
    assert len(page.text.encode("utf-8")) > VARCHAR_MAX_BYTES - 3
    assert [h.page.page_id for h in store.search("needle", None, top_k=1)] == ["long:1"]


def test_delete_doc_removes_pages_tokens_and_manifest(store: IndexStore) -> None:
    names = collection_names(store.name)
    store.begin_doc(make_doc("gone", pages=2))
    store.write_pages([make_page("gone", 1, "x"), make_page("gone", 2, "y")], {1: torch.randn(273, 1280)})
    store.complete_doc("gone")
    add_doc(store, "kept", [make_page("kept", 1, "z")])
    assert store.delete_doc("gone") is True
    assert store.get_doc("gone") is None and store.existing_pages("gone") == set()
    assert store.get_tokens(["gone:1"]) == {}
    assert (_count(store, names.pages), _count(store, names.tokens), _count(store, names.docs)) == (1, 0, 1)
    assert store.delete_doc("gone") is False  # idempotent


def test_stats_count_complete_documents_only(store: IndexStore) -> None:
    store.begin_doc(make_doc("a", pages=2, size=5000))
    store.write_pages(
        [make_page("a", 1, "héllo"), make_page("a", 2, "scanned", text_source="ocr")],
        {1: torch.zeros(273, 1280, dtype=torch.bfloat16), 2: torch.zeros(10, 4, dtype=torch.float32)},
    )
    store.complete_doc("a")
    store.begin_doc(make_doc("b", size=7000))
    store.write_pages([make_page("b", 1, "not yet")])  # still indexing: not counted
    stats = store.stats()
    text = len("héllo".encode()) + len("scanned")
    tokens = 273 * 1280 * 2 + 160
    assert {k: stats[k] for k in ("documents", "pages", "pages_by_text_source", "bytes")} == {
        "documents": 1,
        "pages": 2,
        "pages_by_text_source": {"pdf": 1, "ocr": 1},
        "bytes": {"sources": 5000, "text": text, "tokens": tokens},
    }
    per_million = round((text + tokens) * 1_000_000 / 2)
    assert stats["by_mode"] == {
        "base": {
            "pages": 2,
            "text_bytes": text,
            "token_bytes": tokens,
            "bytes_per_million_pages": per_million,
        }
    }
    assert list(stats["by_codec"]) == ["lossless"] and stats["by_codec"]["lossless"]["pages"] == 2
    assert stats["by_text_source"]["ocr"] == {
        "pages": 1,
        "text_bytes": len("scanned"),
        "token_bytes": 160,
        "bytes_per_million_pages": (len("scanned") + 160) * 1_000_000,
    }
    assert stats["projected_bytes_per_million_pages"] == {
        "text": round(text * 1_000_000 / 2),
        "tokens": round(tokens * 1_000_000 / 2),
        "total": per_million,
    }
