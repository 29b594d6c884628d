"""Vision tokens through Milvus Lite: bit-identical reads and integrity checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from retriever import schema
from retriever.errors import IndexConfigMismatchError, TokenIntegrityError
from retriever.filters import Filter
from retriever.schema import collection_names
from retriever.store import IndexStore
from tests.retriever.helpers import CONFIG, make_doc, make_page


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view({2: torch.int16, 4: torch.int32}[t.element_size()])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_tokens_round_trip_bit_identical(store: IndexStore, dtype: torch.dtype) -> None:
    shapes = {1: (273, 1280), 2: (17, 1280), 3: (3, 5, 7), 4: (0, 1280), 5: (273, 1280)}
    toks = {n: torch.randn(shape).to(dtype) for n, shape in shapes.items()}
    # Page 5: uniformly random bytes (NaNs included), which do not compress and are stored raw.
    toks[5] = torch.randint(0, 256, (273 * 1280 * toks[5].element_size(),), dtype=torch.uint8)
    toks[5] = toks[5].view(dtype).reshape(273, 1280)
    store.begin_doc(make_doc("d", pages=5))
    store.write_pages([make_page("d", n, f"p{n}") for n in shapes], toks)
    got = store.get_tokens(["d:3", "d:1", "d:2", "d:9", "d:5", "d:4"])
    assert list(got) == ["d:3", "d:1", "d:2", "d:5", "d:4"]  # asked order, missing pages absent
    for n in shapes:
        assert got[f"d:{n}"].dtype == dtype and got[f"d:{n}"].shape == shapes[n]
        assert torch.equal(_bits(got[f"d:{n}"]), _bits(toks[n]))


def test_rewriting_with_a_smaller_tensor_leaves_no_stale_chunks(store: IndexStore) -> None:
    store.begin_doc(make_doc("d"))
    store.write_pages([make_page("d", 1, "p")], {1: torch.randn(273, 1280)})
    small = torch.randn(2, 3)
    store.write_pages([make_page("d", 1, "p")], {1: small})
    assert torch.equal(store.get_tokens(["d:1"])["d:1"], small)
    assert store._conn.count(collection_names(store.name).tokens, Filter()) == 1


def test_tampered_chunk_raises_token_integrity_error(store: IndexStore) -> None:
    tokens = collection_names(store.name).tokens
    store.begin_doc(make_doc("d"))
    store.write_pages([make_page("d", 1, "p")], {1: torch.randn(273, 1280).to(torch.bfloat16)})
    row = store._conn.query(tokens, Filter("key == {k}", {"k": "d:1:2"}), ["*"])[0]
    row["payload"] = row["payload"][::-1]  # same length, still base64 alphabet, different bytes
    store._conn.upsert(tokens, [row])
    with pytest.raises(TokenIntegrityError, match="d:1"):
        store.get_tokens(["d:1"])
    store._conn.delete(tokens, Filter("key == {k}", {"k": "d:1:2"}))
    with pytest.raises(TokenIntegrityError, match="missing"):
        store.get_tokens(["d:1"])


def test_corrupt_codec_or_shape_rows_raise_token_integrity_error(store: IndexStore) -> None:
    tokens = collection_names(store.name).tokens
    store.begin_doc(make_doc("d"))
    store.write_pages([make_page("d", 1, "p")], {1: torch.randn(273, 1280).to(torch.bfloat16)})
    head = store._conn.query(tokens, Filter("key == {k}", {"k": "d:1:0"}), ["*"])[0]
    for field, value, match in (("codec", "lz4", "unknown codec"), ("shape", [273, 1281], "expected")):
        store._conn.upsert(tokens, [{**head, field: value}])
        with pytest.raises(TokenIntegrityError, match=match):
            store.get_tokens(["d:1"])
    store._conn.upsert(tokens, [head])
    assert store.get_tokens(["d:1"])["d:1"].shape == (273, 1280)


def test_index_of_an_older_token_format_is_refused(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Written as version 1 would have been (alter_collection_properties is not in every engine).
    monkeypatch.setattr(schema, "SCHEMA_VERSION", "1")
    IndexStore.open(db_path, CONFIG).close()
    monkeypatch.undo()
    with pytest.raises(IndexConfigMismatchError, match="schema version 1"):
        IndexStore.open(db_path, CONFIG)
