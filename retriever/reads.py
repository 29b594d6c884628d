"""When each page was last read: `<name>_reads`, one row per page that has been read (issue 18's
"not read for 90 days" compaction).

A row is (page_id, doc_id, last_read in Unix seconds). Rows are written in batches by the service
(api/service/read_tracker.py), never on every request, and the collection is made on first use, so an index
built before it existed gains it without a schema change. A page with no row counts as read when its
document was indexed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pymilvus import DataType, MilvusClient

from retriever.connection import Connection
from retriever.filters import Filter, field_equals, field_in
from retriever.schema import (
    DUMMY_DIM,
    DUMMY_VECTOR,
    ID_MAX_BYTES,
    PAGE_ID_MAX_BYTES,
    CollectionNames,
    create_collection,
    create_indexes,
)

ROW_BYTES = 512  # upper bound of one row (ids + a double + the dummy vector), to size upserts
READ_BATCH = 1024  # page ids per query


class ReadLog:
    """Last-read times of an index's pages."""

    def __init__(self, conn: Connection, names: CollectionNames) -> None:
        self._conn = conn
        self._name = names.reads

    def _ensure(self) -> None:
        """Create (and load) the collection unless it is there."""
        if not self._conn.has_collection(self._name):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("page_id", DataType.VARCHAR, is_primary=True, max_length=PAGE_ID_MAX_BYTES)
            schema.add_field("doc_id", DataType.VARCHAR, max_length=ID_MAX_BYTES)
            schema.add_field("last_read", DataType.DOUBLE)
            schema.add_field("dummy_vec", DataType.FLOAT_VECTOR, dim=DUMMY_DIM)  # Milvus needs a vector
            idx = MilvusClient.prepare_index_params()
            idx.add_index("dummy_vec", index_type="FLAT", metric_type="L2")
            idx.add_index("doc_id", index_type="INVERTED")
            create_collection(self._conn, self._name, schema, {})
            create_indexes(self._conn, self._name, idx)
        self._conn.ensure_loaded(self._name)

    def _open(self) -> bool:
        """Whether the collection exists (loaded when it does): reads need no collection made."""
        if not self._conn.has_collection(self._name):
            return False
        self._conn.ensure_loaded(self._name)
        return True

    def record(self, times: Mapping[str, float]) -> None:
        """Set the last-read time of pages (page_id → Unix seconds), keeping the later of old and new."""
        if not times:
            return
        self._ensure()
        known = self.last_read(times)
        rows = [
            {
                "page_id": pid,
                "doc_id": pid.rpartition(":")[0],
                "last_read": max(float(t), known.get(pid, 0.0)),
                "dummy_vec": DUMMY_VECTOR,
            }
            for pid, t in times.items()
        ]
        self._conn.upsert(self._name, rows, row_bytes=ROW_BYTES)
        self._conn.flush(self._name)

    def last_read(self, page_ids: Iterable[str]) -> dict[str, float]:
        """page_id → last-read time, for the pages read at least once."""
        if not self._open():
            return {}
        wanted = list(dict.fromkeys(page_ids))
        out: dict[str, float] = {}
        for start in range(0, len(wanted), READ_BATCH):
            flt = field_in("page_id", wanted[start : start + READ_BATCH])
            for row in self._conn.query(self._name, flt, ["page_id", "last_read"]):
                out[str(row["page_id"])] = float(row["last_read"])
        return out

    def all(self) -> dict[str, float]:
        """page_id → last-read time of every page read at least once."""
        if not self._open():
            return {}
        rows = self._conn.query_all(self._name, Filter(), ["page_id", "last_read"])
        return {str(r["page_id"]): float(r["last_read"]) for r in rows}

    def forget_doc(self, doc_id: str) -> None:
        """Drop the rows of a deleted document."""
        if self._open():
            self._conn.delete(self._name, field_equals("doc_id", doc_id))
