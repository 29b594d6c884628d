"""Opening Milvus (a Lite `.db` path or a server URI) and the few calls the retriever makes on it.

Every pymilvus call of the retriever goes through `Connection`, so every failure is converted to a
RetrieverError in one place (errors.milvus_errors).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pymilvus import AnnSearchRequest, MilvusClient, RRFRanker
from pymilvus.client.types import LoadState
from pymilvus.exceptions import MilvusException

from retriever.allocator import keep_freed_buffers
from retriever.engine import Engine, engine_for, is_loopback_uri
from retriever.errors import (
    LITE_OPEN_FAILED,
    StoreLockedError,
    WriteLostError,
    convert_milvus_error,
    milvus_errors,
)
from retriever.filters import Filter
from retriever.library_logs import quiet_library_logs
from retriever.lite_opens import acquire_lite, lite_failures, release_lite
from retriever.upsert_request import RawUpsert, upsert_message, upsert_request

# Rows per page of query_iterator: small enough to stay far below gRPC and query-window limits even with
# 64 KiB payload rows, large enough that listing a manifest is a handful of round trips.
ITERATOR_BATCH = 512
# Upserts are split so one request stays far below the 256 MiB gRPC message limit of Milvus/Milvus Lite.
MAX_UPSERT_BYTES = 16 * 1024 * 1024

# Lite engines serve gRPC with grpc's default ping policy, under which pymilvus' keepalive pings (every 10 s,
# even with no call in flight) count as strikes and end in `too_many_pings` GOAWAYs, each logged as an error
# line. The server is on this machine (in this process for 3.x, a child process over a Unix socket for the
# 2.5 core): a connection to it needs no keepalive, so the pings are turned off.
LITE_GRPC_OPTIONS = {"grpc.keepalive_time_ms": 2**31 - 1, "grpc.keepalive_permit_without_calls": 0}


quiet_library_logs()


def _skip_per_character_varchar_check() -> None:
    """pymilvus packs a row's VARCHAR by calling its array check on the single string, so it walks every
    character (isinstance + len per char: ~8 s of a 14 s write of 32 Base pages' token rows) and compares
    each 1-char length to the field's limit, which can never fail. Our rows are sized before they are sent
    (tokens: CHUNK_CHARS; page text: schema checks), so the check is turned off, where pymilvus has it."""
    from pymilvus.client import entity_helper

    if hasattr(entity_helper, "CHECK_STR_ARRAY"):
        entity_helper.CHECK_STR_ARRAY = False


_skip_per_character_varchar_check()


class Connection:
    """A MilvusClient plus the retriever's calls on it, each converting errors at the boundary.

    Build with `open_connection`.
    """

    def __init__(self, client: MilvusClient, uri: str, lite_path: str | None, engine: Engine) -> None:
        self.client = client
        self.uri = uri
        self.lite_path = lite_path
        self.engine = engine
        self._closed = False
        self._schemas: dict[str, dict[str, Any]] = {}  # for upsert_columns; dropped with the collection
        self._raw_upsert = RawUpsert()  # upsert_columns sends its requests as wire bytes

    @property
    def is_lite(self) -> bool:
        """True when this is an in-process Milvus Lite store."""
        return self.lite_path is not None

    def close(self) -> None:
        """Close the client; the last close of a Lite path releases its data dir lock."""
        if self._closed:
            return
        self._closed = True
        try:
            self.client.close()
        finally:
            if self.lite_path is not None:
                release_lite(self.lite_path)

    # -- collections ---------------------------------------------------------------------------------

    def has_collection(self, name: str) -> bool:
        """Whether collection `name` exists."""
        with milvus_errors(f"has_collection {name}"):
            return bool(self.client.has_collection(name))

    def collection_properties(self, name: str) -> dict[str, str]:
        """The key/value properties stored with collection `name`.

        milvus-lite 2.5 drops collection properties, so schema.py also writes them into the schema
        description as a JSON object; those fill in what the properties lack.
        """
        with milvus_errors(f"describe_collection {name}"):
            desc = self.client.describe_collection(name)
        props = {str(k): str(v) for k, v in (desc.get("properties") or {}).items()}
        try:
            described = json.loads(desc.get("description") or "{}")
        except ValueError:
            described = {}
        if isinstance(described, dict):
            for key, value in described.items():
                props.setdefault(str(key), str(value))
        return props

    def ensure_loaded(self, name: str) -> None:
        """Load a collection unless it is loaded: a reopened Milvus Lite collection (and any server
        collection after a restart) is "released" and refuses search/query until loaded."""
        with milvus_errors(f"load {name}"):
            state = self.client.get_load_state(name).get("state")
            if state != LoadState.Loaded:
                self.client.load_collection(name)

    def dense_index_type(self, name: str, field: str) -> str | None:
        """The index type on vector `field` of collection `name` ("HNSW", "IVF_FLAT", ...), None if none."""
        with milvus_errors(f"describe_index {name}.{field}"):
            if field not in (self.client.list_indexes(name, field_name=field) or []):
                return None
            desc = self.client.describe_index(name, field)
        return str(desc.get("index_type")) if desc else None

    def drop_collection(self, name: str) -> None:
        """Drop collection `name` if it exists."""
        self._schemas.pop(name, None)
        with milvus_errors(f"drop_collection {name}"):
            if self.client.has_collection(name):
                self.client.drop_collection(name)

    def flush(self, name: str) -> None:
        """Seal collection `name`'s buffered writes into segments where the engine wants it (Lite).

        A Milvus server keeps acknowledged writes in its WAL already and rate-limits flush per collection
        (quotaAndLimits.flushRate), so flushing per document there would only throttle builds.
        """
        if not self.engine.flush_writes:
            return
        with milvus_errors(f"flush {name}"):
            self.client.flush(name)
        self.check_lost_writes(f"flush {name}")

    # -- rows ----------------------------------------------------------------------------------------

    def upsert(self, name: str, rows: Sequence[dict[str, Any]], row_bytes: int = 0) -> None:
        """Upsert rows, split into requests of at most MAX_UPSERT_BYTES.

        Args:
            name: collection.
            rows: full rows (every non-function field).
            row_bytes: approximate size of one row, used to size the batches (0: send all at once).
        """
        per_call = max(1, MAX_UPSERT_BYTES // row_bytes) if row_bytes > 0 else max(1, len(rows))
        with milvus_errors(f"upsert into {name}"):
            for start in range(0, len(rows), per_call):
                self.client.upsert(name, list(rows[start : start + per_call]))
                self.check_lost_writes(f"upsert into {name}")

    def upsert_columns(self, name: str, columns: dict[str, list[Any]], row_bytes: int = 0) -> None:
        """`upsert` for rows given column by column (field → one value per row, every non-function field).

        The request Milvus gets is the same; what changes is the client's work: pymilvus checks and packs a
        row-based upsert field by field, row by row (15 rows of 11 fields per Base page of token chunks),
        which cost ~2.7 ms of Python a page more than handing it the columns (pymilvus' column path, the
        one its ORM uses) — at the 300 pages/s a GPU build aims at, most of a core holding the GIL.

        Args:
            name: collection.
            columns: equal-length value lists, one per field.
            row_bytes: approximate size of one row, used to split the requests as `upsert` does.
        Raises:
            ValueError: columns of different lengths.
        """
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        per_call = max(1, MAX_UPSERT_BYTES // row_bytes) if row_bytes > 0 else max(1, n)
        with milvus_errors(f"upsert into {name}"):
            handler = self.client._get_connection()  # pymilvus' gRPC handler: no public column upsert
            schema = self._schemas.get(name)
            if schema is None:
                schema = self._schemas[name] = handler.describe_collection(name)
            for start in range(0, n, per_call):
                part = {field: values[start : start + per_call] for field, values in columns.items()}
                message = upsert_message(name, part, schema)  # wire bytes: no protobuf copies of the payload
                context = self.client._generate_call_context()

                def through_pymilvus(part: dict[str, list[Any]] = part, context: Any = context) -> None:
                    request = upsert_request(name, part, schema)
                    handler.upsert(name, [], upsert_param=request, schema=schema, context=context)

                self._raw_upsert.send(handler, name, message, context, fallback=through_pymilvus)
                self.check_lost_writes(f"upsert into {name}")

    def check_lost_writes(self, what: str) -> None:
        """Raise WriteLostError when the 2.5 core logged a failure of a write it acknowledged (of this
        process or of one writing through its socket, retriever/token_writers.py)."""
        failures = lite_failures(self.lite_path) if self.lite_path else []
        if failures:
            detail = failures[-1].split("]")[-1].strip()  # glog's prefix ends with the last "]"
            raise WriteLostError(what, detail)

    def delete(self, name: str, flt: Filter) -> None:
        """Delete the rows matching `flt` (which must not be empty)."""
        expr = flt.render()
        if not expr:
            raise ValueError("refusing to delete with an empty filter")
        with milvus_errors(f"delete from {name}"):
            self.client.delete(name, filter=expr)

    def query(
        self, name: str, flt: Filter, fields: Sequence[str], limit: int | None = None
    ) -> list[dict[str, Any]]:
        """One query; for unbounded result sets use `query_all`.

        Args:
            name: collection.
            flt: filter (must not be empty unless `limit` is given or fields is ["count(*)"]).
            fields: output fields.
            limit: max rows.

        Returns:
            The rows as dicts.
        """
        kwargs: dict[str, Any] = {} if limit is None else {"limit": limit}
        with milvus_errors(f"query {name}"):
            return list(self.client.query(name, filter=flt.render(), output_fields=list(fields), **kwargs))

    def query_all(self, name: str, flt: Filter, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Every row matching `flt`, paged with query_iterator (a plain query is capped at 16384 rows).

        Args:
            name: collection.
            flt: filter ("" matches everything).
            fields: output fields.

        Returns:
            An iterator over the rows.
        """
        with milvus_errors(f"query {name}"):
            it = self.client.query_iterator(
                name, batch_size=ITERATOR_BATCH, filter=flt.render(), output_fields=list(fields)
            )
        try:
            while True:
                with milvus_errors(f"query {name}"):
                    batch = it.next()
                if not batch:
                    return
                yield from batch
        finally:
            it.close()

    def count(self, name: str, flt: Filter) -> int:
        """Number of rows matching `flt`."""
        rows = self.query(name, flt, ["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    # -- search --------------------------------------------------------------------------------------

    def hybrid_search(
        self, name: str, requests: list[AnnSearchRequest], rrf_k: int, limit: int, fields: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Run several ANN legs and fuse them with RRF inside Milvus.

        Returns:
            The hits of the single query: dicts with "distance" (the RRF score) and "entity".
        """
        with milvus_errors(f"hybrid_search {name}"):
            result = self.client.hybrid_search(
                name, requests, RRFRanker(rrf_k), limit=limit, output_fields=list(fields)
            )
        return list(result[0]) if result else []

    def search_leg(self, name: str, request: AnnSearchRequest) -> list[dict[str, Any]]:
        """Run one leg of a hybrid search on its own, returning only page ids and scores.

        Returns:
            The hits, best first: dicts with "distance" and "entity" {"page_id"}.
        """
        with milvus_errors(f"search {name}"):
            result = self.client.search(
                name,
                data=request.data,
                anns_field=request.anns_field,
                filter=request.expr or "",
                limit=request.limit,
                search_params=request.param,
                output_fields=["page_id"],
            )
        return list(result[0]) if result else []

    def search(
        self,
        name: str,
        field: str,
        vector: list[float],
        flt: Filter,
        limit: int,
        params: dict[str, Any],
        fields: Sequence[str],
    ) -> list[dict[str, Any]]:
        """Single-vector ANN search on `field`.

        Returns:
            The hits: dicts with "distance" and "entity".
        """
        with milvus_errors(f"search {name}"):
            result = self.client.search(
                name,
                data=[vector],
                anns_field=field,
                filter=flt.render(),
                limit=limit,
                search_params=params,
                output_fields=list(fields),
            )
        return list(result[0]) if result else []


def open_connection(uri: str | os.PathLike[str], *, timeout: float | None = None) -> Connection:
    """Connect to Milvus.

    Args:
        uri: a filesystem path ending in `.db` (Milvus Lite, created with its parent dirs if missing), or
            `http(s)://host:port` of a Milvus server (standalone, cluster, or `milvus-lite server`).
        timeout: per-call timeout in seconds (None: pymilvus default).

    Returns:
        The open Connection.

    Raises:
        ValueError: `uri` is neither a server URI nor a `.db` path.
        StoreLockedError: the Lite data dir is open in another process.
        StoreUnavailableError: the server cannot be reached.
    """
    text = str(uri)
    engine = engine_for(text)
    if not engine.embedded:
        # A served Lite core on this machine (python -m retriever.lite_server) enforces grpc's default ping
        # policy too; a remote server keeps the pings, which find dead connections across the network.
        options = {"grpc_options": LITE_GRPC_OPTIONS} if is_loopback_uri(text) else {}
        with milvus_errors(f"connect to {text}"):
            return Connection(MilvusClient(uri=text, timeout=timeout, **options), text, None, engine)
    path = Path(text).expanduser().resolve()
    if path.suffix != ".db":
        raise ValueError(f"{text!r} is neither an http(s):// Milvus URI nor a Milvus Lite path ending in .db")
    path.parent.mkdir(parents=True, exist_ok=True)
    lite_path = str(path)
    if engine.in_process:
        keep_freed_buffers()  # Lite's server threads share our heap: see retriever/allocator.py
    target = acquire_lite(path, engine)
    try:
        client = MilvusClient(uri=target, timeout=timeout, grpc_options=LITE_GRPC_OPTIONS)
    except MilvusException as exc:
        release_lite(lite_path)
        # pymilvus says only "Open local milvus failed"; tell a held lock apart from other failures
        # (corrupt data dir, ...) so the message we give is the true one.
        if LITE_OPEN_FAILED in str(exc.message) and engine.lock_held_elsewhere(lite_path):
            raise StoreLockedError(lite_path) from exc
        raise convert_milvus_error(exc, f"open {lite_path}") from exc
    except BaseException:
        release_lite(lite_path)
        raise
    return Connection(client, lite_path, lite_path, engine)
