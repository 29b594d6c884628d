"""A column upsert's gRPC request, built in place.

pymilvus builds each field's data as a message of its own and then appends it to the request, and
appending a message to a repeated field of a protobuf (upb) message copies it whole: for a batch of 64 Base
pages of token chunks (47 MB of base64 text) that copy took 105 ms of the 230 ms the client spent on the
request, all of it holding the GIL the build's encoder thread needs to feed the GPU (measured with py-spy
over bench/build_host.py; docs/BENCHMARKS.md). Here the text and integer columns — the bulk — are written
straight into the request's own field messages; every other type goes through pymilvus' conversion as
before. pymilvus' handler takes such a prepared request as `upsert_param`.
"""

from __future__ import annotations

from typing import Any

from pymilvus import DataType
from pymilvus.client.entity_helper import entity_to_field_data
from pymilvus.grpc_gen import milvus_pb2


def upsert_request(name: str, columns: dict[str, list[Any]], schema: dict[str, Any]) -> Any:
    """The UpsertRequest of equal-length `columns` (field → values) for collection `name`.

    Args:
        name: collection.
        columns: one value list per field the upsert writes.
        schema: the collection's description (pymilvus `describe_collection`).
    Raises:
        ValueError: a text field's value that is not text or is longer than the field's max_length.
    """
    fields = {field["name"]: field for field in schema["fields"]}
    rows = len(next(iter(columns.values()), []))
    request = milvus_pb2.UpsertRequest(collection_name=name, partition_name="", num_rows=rows)
    for field, values in columns.items():
        info = fields[field]
        kind = info["type"]
        plain = not info.get("nullable") and info.get("default_value") is None  # no validity column to add
        if kind == DataType.VARCHAR and plain:
            limit = int(info.get("params", {}).get("max_length", 0))
            longest = max(map(len, values), default=0)
            if limit and longest > limit:  # characters: a lower bound of the bytes Milvus counts
                raise ValueError(f"a value of {field} is {longest} characters, over its max_length {limit}")
            if not all(isinstance(value, str) for value in values):  # protobuf would take bytes too
                raise ValueError(f"{field} takes text, got {sorted({type(v).__name__ for v in values})}")
            request.fields_data.add(field_name=field, type=kind).scalars.string_data.data.extend(values)
        elif kind == DataType.INT64 and plain:
            request.fields_data.add(field_name=field, type=kind).scalars.long_data.data.extend(values)
        else:  # small columns of other types: pymilvus' own conversion (and its copy)
            entity = {"name": field, "type": kind, "values": values}
            request.fields_data.append(entity_to_field_data(entity, info, rows))
    return request
