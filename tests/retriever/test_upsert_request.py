"""The column upsert's request, assembled as wire bytes, holds what pymilvus' own conversion would put there,
and goes to Milvus that way (pymilvus' upsert only when that fails)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from pymilvus import DataType
from pymilvus.client.entity_helper import entity_to_field_data
from pymilvus.client.grpc_handler import GrpcHandler
from pymilvus.grpc_gen import milvus_pb2

from retriever import upsert_request as upsert_module
from retriever.store import IndexStore
from retriever.upsert_request import RawUpsert, upsert_message, upsert_request
from tests.retriever.helpers import make_doc, make_page

SCHEMA = {
    "fields": [
        {"name": "key", "type": DataType.VARCHAR, "params": {"max_length": 70000}, "is_primary": True},
        {"name": "chunk", "type": DataType.INT64, "params": {}},
        {"name": "shape", "type": DataType.JSON, "params": {}},
        {"name": "vec", "type": DataType.FLOAT_VECTOR, "params": {"dim": 2}},
        {"name": "note", "type": DataType.VARCHAR, "params": {"max_length": 16}},
    ]
}
# Values of 0, 1, 127, 128 and 65535+ bytes: one-, two- and three-byte length prefixes; "é" is two bytes.
COLUMNS = {
    "key": ["", "a", "k" * 127, "é" * 64, "x" * 69999],
    "chunk": [0, 1, 2, 3, 4],
    "shape": [[2, 3]] * 5,
    "vec": [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.0, 0.0], [1.0, 1.0]],
    "note": ["n", "ø" * 8, "", "🙂" * 4, "z" * 16],
}


def test_the_wire_bytes_parse_to_pymilvus_conversion():
    request = milvus_pb2.UpsertRequest.FromString(upsert_message("c_tokens", COLUMNS, SCHEMA))
    assert request.collection_name == "c_tokens" and request.num_rows == 5
    fields = {f["name"]: f for f in SCHEMA["fields"]}
    got = {data.field_name: data for data in request.fields_data}
    assert sorted(got) == sorted(COLUMNS)
    for name, values in COLUMNS.items():
        entity = {"name": name, "type": fields[name]["type"], "values": values}
        assert got[name] == entity_to_field_data(entity, fields[name], 5), name
    assert upsert_request("c_tokens", COLUMNS, SCHEMA) == request  # the fallback's message


def test_text_over_max_length_in_bytes_or_not_text_is_refused():
    with pytest.raises(ValueError, match="17 bytes, over its max_length 16"):
        upsert_message("c", {**COLUMNS, "note": ["n", "ø" * 8, "", "🙂" * 4, "é" + "z" * 15]}, SCHEMA)
    with pytest.raises(ValueError, match="key takes text or ASCII bytes, got int"):
        upsert_message("c", {**COLUMNS, "key": [7, "a", "b", "c", "d"]}, SCHEMA)
    with pytest.raises(ValueError, match="key takes text or ASCII bytes, got bytes that are not ASCII"):
        upsert_message("c", {**COLUMNS, "key": ["é".encode(), "a", "b", "c", "d"]}, SCHEMA)


def test_ascii_bytes_and_views_go_in_as_the_same_text():
    as_bytes = {
        **COLUMNS,
        "key": [b"", memoryview(b"xa")[1:], b"k" * 127, "é" * 64, memoryview(b"x" * 69999)],
    }
    assert upsert_message("c", as_bytes, SCHEMA) == upsert_message("c", COLUMNS, SCHEMA)


def test_tokens_are_written_as_wire_bytes_not_through_pymilvus(
    store: IndexStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against Milvus Lite and a served engine: the raw call lands the rows (pymilvus' upsert is made to
    fail), and they read back bit for bit."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pymilvus' upsert was used")

    monkeypatch.setattr(GrpcHandler, "upsert", refuse)
    tokens = {n: torch.randn(273, 1280).to(torch.bfloat16) for n in (1, 2)}
    store.begin_doc(make_doc("d", pages=2))
    store.write_pages([make_page("d", n, f"p{n}") for n in tokens], tokens)
    got = store.get_tokens(["d:1", "d:2"])
    assert all(torch.equal(got[f"d:{n}"].view(torch.int16), t.view(torch.int16)) for n, t in tokens.items())


class BrokenChannel:
    def unary_unary(self, *args: object, **kwargs: object) -> object:
        def call(*args: object, **kwargs: object) -> None:
            raise ConnectionResetError("the channel broke")

        return call


class FakeHandler:
    _final_channel = BrokenChannel()
    server_address = "localhost:0"


def test_a_failed_raw_call_is_made_again_through_pymilvus(monkeypatch: pytest.MonkeyPatch):
    warned: list[str] = []
    # the module's logger itself is swapped: other tests' logging setups may disable or redirect it
    monkeypatch.setattr(upsert_module, "log", SimpleNamespace(warning=lambda msg, *a: warned.append(msg % a)))
    calls = []
    raw = RawUpsert()
    for _ in range(2):
        raw.send(FakeHandler(), "c", b"", None, fallback=lambda: calls.append("pymilvus"))
    assert calls == ["pymilvus", "pymilvus"]
    assert warned == ["upsert as wire bytes failed (the channel broke); sending through pymilvus"]  # once
