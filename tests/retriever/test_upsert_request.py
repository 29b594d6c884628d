"""The column upsert's request built in place holds what pymilvus' own conversion would put there."""

from __future__ import annotations

import pytest
from pymilvus import DataType
from pymilvus.client.entity_helper import entity_to_field_data

from retriever.upsert_request import upsert_request

SCHEMA = {
    "fields": [
        {"name": "key", "type": DataType.VARCHAR, "params": {"max_length": 16}, "is_primary": True},
        {"name": "chunk", "type": DataType.INT64, "params": {}},
        {"name": "shape", "type": DataType.JSON, "params": {}},
        {"name": "vec", "type": DataType.FLOAT_VECTOR, "params": {"dim": 2}},
    ]
}
COLUMNS = {"key": ["a:0", "a:1"], "chunk": [0, 1], "shape": [[2, 3], [2, 3]], "vec": [[0.0, 1.0], [1.0, 0.0]]}


def test_the_request_equals_pymilvus_conversion():
    request = upsert_request("c_tokens", COLUMNS, SCHEMA)
    assert request.collection_name == "c_tokens" and request.num_rows == 2
    fields = {f["name"]: f for f in SCHEMA["fields"]}
    for got, (name, values) in zip(request.fields_data, COLUMNS.items(), strict=True):
        want = entity_to_field_data(
            {"name": name, "type": fields[name]["type"], "values": values}, fields[name], 2
        )
        assert got == want, name


def test_text_over_max_length_or_not_text_is_refused():
    with pytest.raises(ValueError, match="max_length 16"):
        upsert_request("c", {**COLUMNS, "key": ["x" * 17, "a:1"]}, SCHEMA)
    with pytest.raises(ValueError, match="key"):
        upsert_request("c", {**COLUMNS, "key": [b"a:0", "a:1"]}, SCHEMA)
