"""A column upsert's gRPC request: its wire bytes assembled here, and sent as they are.

A build writes ~0.7 MB of base64 token text per Base page, and every step pymilvus and protobuf (upb) take
with it holds the GIL the build's other threads need to feed the GPU: appending a field message to the
request copies it whole (pymilvus builds each column apart), and `SerializeToString` copies the 47 MB of a
64-page request again, growing its buffer as it goes. On the H200 machine's build that serialisation alone
held the GIL 1.1 ms a page and building the request 0.3 ms more (py-spy --gil over `vtrag index build`,
bench/gil_top.py; docs/BENCHMARKS.md). So text columns are encoded to protobuf's wire format here (a tag
and a length before each value) and joined once; the request's small fields are serialised by protobuf
as usual and the two put side by side: protobuf reads concatenated messages as one, repeated fields
appended. The bytes go through pymilvus' own channel (its interceptors, its headers) with an identity
serialiser; the reply is checked and its timestamp recorded as pymilvus does (session consistency reads
it). Any failure of that call is retried once through pymilvus' own upsert (an upsert by primary key can
repeat without effect), so its retries and error mapping apply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from pymilvus import DataType
from pymilvus.client import ts_utils
from pymilvus.client.call_context import _api_level_md
from pymilvus.client.entity_helper import entity_to_field_data
from pymilvus.client.utils import check_status
from pymilvus.grpc_gen import milvus_pb2, schema_pb2

log = logging.getLogger(__name__)
UPSERT_METHOD = "/milvus.proto.milvus.MilvusService/Upsert"


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _tag(descriptor: Any, field: str) -> bytes:
    """The key of a length-delimited field (wire type 2) of a message type."""
    return _varint(descriptor.fields_by_name[field].number << 3 | 2)


FIELDS_DATA = _tag(milvus_pb2.UpsertRequest.DESCRIPTOR, "fields_data")
SCALARS = _tag(schema_pb2.FieldData.DESCRIPTOR, "scalars")
STRING_DATA = _tag(schema_pb2.ScalarField.DESCRIPTOR, "string_data")
STRING_VALUE = _tag(schema_pb2.StringArray.DESCRIPTOR, "data")


def _utf8(field: str, value: Any) -> bytes | memoryview:
    """A text value's UTF-8 bytes: text encoded, or bytes that are ASCII passed as they are (token rows
    hold views of their base64 text, so the request is the only copy of it)."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, memoryview)) and np.frombuffer(value, np.uint8).max(initial=0) < 0x80:
        return value
    what = "bytes that are not ASCII" if isinstance(value, (bytes, memoryview)) else type(value).__name__
    raise ValueError(f"{field} takes text or ASCII bytes, got {what}")


def _text_column(field: str, kind: int, values: list[Any], limit: int) -> list[bytes | memoryview]:
    """Wire bytes (in pieces, to be joined) of one `fields_data` entry holding a text column."""
    encoded = [_utf8(field, value) for value in values]
    longest = max(map(len, encoded), default=0)
    if limit and longest > limit:  # Milvus counts a VARCHAR's limit in UTF-8 bytes
        raise ValueError(f"a value of {field} is {longest} bytes, over its max_length {limit}")
    pieces: list[bytes | memoryview] = []
    for value in encoded:
        pieces += (STRING_VALUE, _varint(len(value)), value)
    array = sum(map(len, pieces))
    scalars = len(STRING_DATA) + len(_varint(array)) + array
    head = schema_pb2.FieldData(field_name=field, type=kind).SerializeToString()
    entry = len(head) + len(SCALARS) + len(_varint(scalars)) + scalars
    return [
        FIELDS_DATA,
        _varint(entry),
        head,
        SCALARS,
        _varint(scalars),
        STRING_DATA,
        _varint(array),
        *pieces,
    ]


def upsert_message(name: str, columns: dict[str, list[Any]], schema: dict[str, Any]) -> bytes:
    """The serialised UpsertRequest of equal-length `columns` (field → values) for collection `name`.

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
    text: list[bytes | memoryview] = []
    for field, values in columns.items():
        info = fields[field]
        kind = info["type"]
        plain = not info.get("nullable") and info.get("default_value") is None  # no validity column to add
        if kind == DataType.VARCHAR and plain:
            limit = int(info.get("params", {}).get("max_length", 0))
            text += _text_column(field, kind, values, limit)
        elif kind == DataType.INT64 and plain:
            request.fields_data.add(field_name=field, type=kind).scalars.long_data.data.extend(values)
        else:  # small columns of other types: pymilvus' own conversion
            entity = {"name": field, "type": kind, "values": values}
            request.fields_data.append(entity_to_field_data(entity, info, rows))
    return b"".join([request.SerializeToString(), *text])


class RawUpsert:
    """Sends serialised UpsertRequests on a pymilvus handler's channel (made again when pymilvus reconnects
    on a new one)."""

    def __init__(self) -> None:
        self._channel: Any = None
        self._call: Callable[..., Any] | None = None
        self._fell_back = False

    def send(
        self, handler: Any, name: str, message: bytes, context: Any, fallback: Callable[[], Any]
    ) -> None:
        """Upsert `message` into `name`; on any failure, `fallback()` (pymilvus' upsert of the same rows).

        Args:
            handler: pymilvus' gRPC handler of the connection.
            name: the collection (for the timestamp pymilvus keeps per collection).
            message: `upsert_message`'s bytes.
            context: pymilvus' call context (database name, request id).
            fallback: the same upsert through pymilvus; its exceptions are the caller's to map.
        """
        try:
            channel = handler._final_channel
            if channel is not self._channel or self._call is None:
                self._call = channel.unary_unary(
                    UPSERT_METHOD,
                    request_serializer=None,
                    response_deserializer=milvus_pb2.MutationResult.FromString,
                )
                self._channel = channel
            reply = self._call(message, metadata=_api_level_md(context))
            check_status(reply.status)
        except Exception as exc:  # noqa: BLE001 - pymilvus' path retries what can be retried, says what failed
            if not self._fell_back:  # once: a fallback every time would cost the speed without a word
                self._fell_back = True
                log.warning("upsert as wire bytes failed (%s); sending through pymilvus", exc)
            fallback()
            return
        db = context.get_db_name() if context is not None else ""
        ts_utils.update_collection_ts(name, reply.timestamp, handler.server_address, db)


def upsert_request(name: str, columns: dict[str, list[Any]], schema: dict[str, Any]) -> Any:
    """The same request as a protobuf message, for pymilvus' own upsert (the fallback)."""
    request = milvus_pb2.UpsertRequest()
    request.ParseFromString(upsert_message(name, columns, schema))
    return request
