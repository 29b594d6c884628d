"""IndexStore: the only retriever object the upper layers hold.

Write order is chosen so a crash at any point leaves nothing visible that should not be:
tokens → page rows → (flush) → manifest "complete"; deletes go manifest "deleting" → tokens → pages →
manifest row. Search only ever shows documents whose manifest row says "complete".
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from retriever import manifest, search
from retriever import pages as page_rows
from retriever.connection import Connection, open_connection
from retriever.engine import is_server_uri
from retriever.errors import IndexConfigMismatchError, IndexNotFoundError, RetrieverError
from retriever.filters import Filter, field_equals
from retriever.fusion import Fusion
from retriever.reads import ReadLog
from retriever.records import DocRecord, DocStatus, IndexConfig, PageRecord, SearchHit, Vector, make_page_id
from retriever.schema import (
    CollectionNames,
    collection_names,
    create_index,
    ensure_pages_indexes,
    index_exists,
    open_collections,
    stored_config,
)
from retriever.stats import index_audit, index_stats

if TYPE_CHECKING:
    import torch

    from retriever.token_sets import TokenSets
    from retriever.token_writers import TokenWriters

DEFAULT_NAME = "vtrag"


class IndexStore:
    """Pages, vision tokens and the document manifest of one index in Milvus.

    Open with `IndexStore.open(...)`; close with `close()` or use as a context manager.
    """

    def __init__(self, conn: Connection, names: CollectionNames, config: IndexConfig, name: str) -> None:
        self._conn = conn
        self._names = names
        self._config = config
        self.name = name

    # -- lifecycle -----------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        uri: str | os.PathLike[str],
        config: IndexConfig | None = None,
        *,
        name: str = DEFAULT_NAME,
        recreate: bool = False,
    ) -> IndexStore:
        """Open (or create) an index.

        Args:
            uri: a `.db` path (Milvus Lite, created if missing) or `http(s)://host:port` (Milvus server).
            config: the settings this run uses. None opens an existing index as it was built. Given, it
                creates the index if there is none and must equal the stored config otherwise.
            name: index name; collections are `<name>_pages`, `<name>_tokens`, `<name>_docs`.
            recreate: drop the existing index (all its data) and build an empty one from `config`.

        Returns:
            The open IndexStore.

        Raises:
            ValueError: recreate without a config, a bad name or uri.
            IndexNotFoundError: config is None and there is no index.
            IndexConfigMismatchError: the stored index was built with another config or schema version.
            StoreLockedError: the Lite data dir is open in another process.
            StoreUnavailableError: the server cannot be reached.
        """
        if recreate and config is None:
            raise ValueError("recreate needs the config to rebuild the index with")
        names = collection_names(name)
        # Looking for an index must not leave an empty Lite data dir behind.
        if config is None and not is_server_uri(uri) and not Path(uri).expanduser().exists():
            raise IndexNotFoundError(str(uri), name)
        conn = open_connection(uri)
        try:
            built = cls._open_or_create(conn, names, config, recreate, name)
        except BaseException:
            conn.close()
            raise
        return cls(conn, names, built, name)

    @staticmethod
    def _open_or_create(
        conn: Connection, names: CollectionNames, config: IndexConfig | None, recreate: bool, name: str
    ) -> IndexConfig:
        if recreate and config is not None:
            create_index(conn, names, config, recreate=True)
            return config
        if not index_exists(conn, names):
            if config is None:
                raise IndexNotFoundError(conn.uri, name)
            # Race-safe: another process may be creating the same index now; whichever pages collection
            # exists afterwards is the index, and its recorded config is checked below like any other.
            try:
                create_index(conn, names, config)
            except RetrieverError:
                if not index_exists(conn, names) or stored_config(conn, names) == config:
                    raise  # a concurrent creator with another config is reported as a mismatch below
        stored = stored_config(conn, names)
        if config is not None and config != stored:
            raise IndexConfigMismatchError(stored, config)
        ensure_pages_indexes(conn, names, stored)  # a concurrent creator may not have made them yet
        open_collections(conn, names)
        return stored

    def close(self) -> None:
        """Release the connection; the last store of a Lite data dir in this process releases its lock."""
        self._conn.close()

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def config(self) -> IndexConfig:
        """The IndexConfig the index was built with."""
        return self._config

    @property
    def uri(self) -> str:
        """Where the index lives (resolved Lite path or server URI)."""
        return self._conn.uri

    # -- manifest ------------------------------------------------------------------------------------

    def get_doc(self, doc_id: str) -> DocRecord | None:
        """The manifest record of a document (None if the document is unknown)."""
        return manifest.get_docs(self._conn, self._names.docs, [doc_id]).get(doc_id)

    def docs_by_sources(self, sources: Iterable[str]) -> dict[str, list[DocRecord]]:
        """Manifest records indexed from each of `sources`, the paths as recorded (several for a path whose
        content changed, none for one never indexed)."""
        return manifest.docs_with_sources(self._conn, self._names.docs, sources)

    def list_docs(self, status: DocStatus | None = None) -> list[DocRecord]:
        """Manifest records ordered by source then doc_id; only those of `status` ("indexing", "complete",
        "failed", "deleting") when it is given."""
        flt = field_equals("status", status) if status is not None else Filter()
        docs = list(manifest.iter_docs(self._conn, self._names.docs, flt))
        return sorted(docs, key=lambda d: (d.source, d.doc_id))

    def begin_doc(self, doc: DocRecord) -> None:
        """`begin_docs` for one document (also used to record a failure: status "failed", with the error)."""
        self.begin_docs([doc])

    def begin_docs(self, docs: Sequence[DocRecord]) -> None:
        """Record documents before their pages are written (normally with status "indexing"), in one upsert;
        each record replaces any earlier one with the same doc_id."""
        manifest.put_docs(self._conn, self._names.docs, docs)

    def complete_doc(self, doc_id: str) -> DocRecord:
        """`complete_docs` for one document; returns its updated record."""
        return self.complete_docs([doc_id])[0]

    def complete_docs(self, doc_ids: Sequence[str]) -> list[DocRecord]:
        """Make documents recorded with `begin_doc` visible to search: flush their pages and tokens, then
        mark them complete (indexed_at set) — one set of flushes for all (a build completes the documents a
        write batch finishes together; each flush costs tens of milliseconds). Returns the updated records.

        Raises:
            RetrieverError: a document is not in the manifest (none is marked complete then).
        """
        if not doc_ids:
            return []
        found = manifest.get_docs(self._conn, self._names.docs, doc_ids)
        missing = [doc_id for doc_id in doc_ids if doc_id not in found]
        if missing:
            raise RetrieverError(f"document {missing[0]} is not in the manifest; call begin_doc first")
        self._conn.flush(self._names.tokens)
        self._conn.flush(self._names.pages)
        docs = [found[doc_id] for doc_id in doc_ids]
        for doc in docs:
            doc.status = manifest.COMPLETE
            doc.error = ""
            doc.indexed_at = time.time()
        manifest.put_docs(self._conn, self._names.docs, docs)
        self._conn.flush(self._names.docs)
        return docs

    def fail_doc(self, doc: DocRecord, error: str) -> None:
        """Record that a document failed: its manifest row says "failed" with the error (listed, deletable,
        hidden from search), and whatever pages and tokens it had written are removed.

        Args:
            doc: the document's record (its row is written whether or not one existed).
            error: why it failed, one line for people.
        """
        doc = replace(doc, status="failed", error=error, indexed_at=time.time())
        manifest.put_doc(self._conn, self._names.docs, doc)
        self._conn.flush(self._names.docs)
        self._drop_rows(doc.doc_id)

    def delete_doc(self, doc_id: str) -> bool:
        """Delete a document's tokens, pages and manifest row.

        The row is first marked "deleting", so an interrupted delete hides the document instead of
        leaving a half-deleted one searchable; calling delete_doc again finishes it.

        Args:
            doc_id: the document.

        Returns:
            True if the document had a manifest row.
        """
        doc = self.get_doc(doc_id)
        if doc is not None:
            doc.status = "deleting"
            manifest.put_doc(self._conn, self._names.docs, doc)
            self._conn.flush(self._names.docs)
        self._drop_rows(doc_id)
        manifest.delete_doc_row(self._conn, self._names.docs, doc_id)
        self._conn.flush(self._names.docs)
        return doc is not None

    def _drop_rows(self, doc_id: str) -> None:
        """Delete a document's tokens and pages (tokens first: no page row is left without them)."""
        from retriever import tokens as token_blobs  # torch: only where tokens are touched, not on search

        token_blobs.delete_doc_tokens(self._conn, self._names.tokens, doc_id)  # every token set
        page_rows.delete_doc_pages(self._conn, self._names.pages, doc_id)
        self.reads().forget_doc(doc_id)
        self._conn.flush(self._names.tokens)
        self._conn.flush(self._names.pages)

    # -- pages and tokens ----------------------------------------------------------------------------

    def existing_pages(self, doc_id: str) -> set[int]:
        """1-based page numbers of a document that have a page row (for resuming a build)."""
        return page_rows.page_numbers(self._conn, self._names.pages, doc_id)

    def token_writers(self, processes: int) -> TokenWriters | None:
        """`processes` processes writing vision tokens for `write_pages(writers=...)` (`close()` them after);
        None where no other process can reach this store (milvus-lite 3.x), or for 0."""
        from retriever.token_writers import start_token_writers

        return start_token_writers(self._conn, processes)

    def write_pages(
        self,
        pages: Sequence[PageRecord],
        tokens: dict[int, torch.Tensor] | None = None,
        *,
        replace: bool = True,
        writers: TokenWriters | None = None,
    ) -> None:
        """Write pages and, optionally, their vision tokens; rewriting a page replaces it.

        Tokens are written before page rows, so a page row (what `existing_pages` reports) implies its
        tokens are stored, in the index's token codec. A page row records the size of the codec's payload
        of the tokens given in the same call (0 if none; lossless: the raw tensor bytes), which stats() sums.

        Args:
            pages: pages to write (all vectors the index needs must be set).
            tokens: page_no → token tensor (bf16/fp16/fp32); the pages must then belong to one
                document and every key must be one of their page numbers.
            replace: look for token chunks of an earlier, longer version of these pages and drop them.
                False only when the document has never been written (a first build): saves a delete.
            writers: write the tokens in these processes (`token_writers`) instead of this thread.

        Raises:
            ValueError: missing/wrong-dim vectors, token keys without a page, tokens for several documents.
        """
        from retriever import tokens as token_blobs

        tokens_by_page = tokens or {}
        token_blobs.check_page_tokens(pages, tokens_by_page)
        token_bytes = token_blobs.payload_sizes(codec := self._config.token_codec, tokens_by_page)
        # Build (and so validate) every row before writing anything.
        rows = [page_rows.page_to_row(p, self._config, token_bytes.get(p.page_no, 0)) for p in pages]
        if tokens_by_page:
            by_id = {make_page_id(pages[0].doc_id, no): t for no, t in tokens_by_page.items()}
            doc_id, name = pages[0].doc_id, self._names.tokens
            if writers is not None:
                writers.write(name, doc_id, by_id, replace=replace, token_codec=codec)
            else:
                token_blobs.write_tokens(self._conn, name, doc_id, by_id, replace=replace, token_codec=codec)
        page_rows.upsert_pages(self._conn, self._names.pages, rows)

    def get_pages(self, page_ids: Sequence[str], *, with_vectors: bool = False) -> list[PageRecord]:
        """Fetch pages by id.

        Args:
            page_ids: "doc_id:page_no" ids.
            with_vectors: also return text_vec (and vision_vec when the index has one).

        Returns:
            The pages that exist, in the order asked for.
        """
        fields = ["text_vec"] if with_vectors else []
        if with_vectors and self._config.vision_dim is not None:
            fields.append("vision_vec")
        found = page_rows.read_pages(self._conn, self._names.pages, page_ids, fields)
        return [found[pid] for pid in dict.fromkeys(page_ids) if pid in found]

    def replace_page_text(self, page: PageRecord) -> bool:
        """OCR write-back: new text, lines, text vector and source; the rest kept (pages.replace_text)."""
        return page_rows.replace_text(self._conn, self._names.pages, self._config, page)

    def get_tokens(self, pages: Sequence[str | PageRecord]) -> dict[str, torch.Tensor]:
        """Fetch the stored vision tokens of pages, bit-identical to what was written, from the token set
        each page row names (retriever/token_sets.py). Page records (search hits) save looking them up.

        Returns:
            page_id → CPU tensor, for the pages that have tokens.

        Raises:
            TokenIntegrityError: stored tokens are incomplete or fail their sha256 check.
        """
        from retriever import token_sets

        ids = [p for p in pages if isinstance(p, str)]
        found = page_rows.read_pages(self._conn, self._names.pages, ids) if ids else {}
        records = [found.get(p) if isinstance(p, str) else p for p in pages]
        return token_sets.read_current(self._conn, self._names, [r for r in records if r is not None])

    def token_sets(self) -> TokenSets:
        """Replacing pages' token sets crash-safely, for compaction (`retriever.token_sets`)."""
        from retriever.token_sets import TokenSets

        return TokenSets(self._conn, self._names, self._config)

    def reads(self) -> ReadLog:
        """The last-read times of pages (`retriever.reads`), its collection made on first use."""
        return ReadLog(self._conn, self._names)

    # -- search and stats ----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        query_vec: Vector | None,
        *,
        top_k: int,
        doc_ids: Sequence[str] | None = None,
        vision_vec: Vector | None = None,
        fusion: Fusion = "convex",
    ) -> list[SearchHit]:
        """Hybrid search: BM25 on `query` + dense `query_vec` (+ `vision_vec`), fused (`retriever.fusion`).

        Args:
            query: raw query text ("" skips BM25).
            query_vec: dense text query vector (None skips the dense text leg).
            top_k: results wanted.
            doc_ids: restrict to these documents.
            vision_vec: pooled vision query vector (index must have a vision encoder).
            fusion: "convex" (default) or "rrf".

        Returns:
            Up to top_k hits of complete documents, best first, pages without vectors.

        Raises:
            ValueError: no usable leg, top_k < 1, unknown fusion, wrong vector dims.
        """
        return search.hybrid_search(
            self._conn, self._names, self._config, query, query_vec,
            top_k=top_k, doc_ids=doc_ids, vision_vec=vision_vec, fusion=fusion,
        )  # fmt: skip

    def similar_pages(
        self, vision_vec: Vector, *, top_k: int, doc_ids: Sequence[str] | None = None
    ) -> list[SearchHit]:
        """Up to top_k pages of complete documents (optionally of `doc_ids`) whose pooled vision vector is
        closest to `vision_vec` (query by image), best first by cosine similarity. ValueError: the index
        has no vision vectors, or a wrong dim."""
        return search.similar_pages(
            self._conn, self._names, self._config, vision_vec, top_k=top_k, doc_ids=doc_ids
        )

    def stats(self) -> dict[str, Any]:
        """Sizes of the searchable part of the index (complete documents only); see `retriever.stats`."""
        return index_stats(self._conn, self._names)

    def audit(self) -> dict[str, int]:
        """Consistency counts over the whole index, incomplete documents included; see `retriever.stats`."""
        return index_audit(self._conn, self._names)
