"""The one definition of vtrag's three Milvus collections, and their creation, check and removal.

    <name>_pages   one row per page: text (BM25 via a Function), line boxes, geometry, text/vision vectors
    <name>_tokens  the page's vision-token tensor, lossless: packed bytes (zstd byte planes) as base64
                   chunks, one row per chunk (retriever/tokens.py)
    <name>_docs    the document manifest (status drives visibility)

Dims come from the IndexConfig; the config that built the index is stored as a property of the pages
collection and compared on every open.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pymilvus import CollectionSchema, DataType, Function, FunctionType, MilvusClient
from pymilvus.milvus_client.index import IndexParams

from retriever.connection import Connection
from retriever.engine import LOCAL_MODE_REFUSAL, Engine
from retriever.errors import IndexConfigMismatchError, RetrieverError, milvus_errors
from retriever.records import IndexConfig

# Bump when a field or index changes; an index built by another version is refused on open.
SCHEMA_VERSION = "2"  # 2: token rows gained `codec` (packed bytes instead of raw)
CONFIG_PROPERTY = "vtrag.index_config"
VERSION_PROPERTY = "vtrag.schema_version"

# Milvus VARCHAR max_length counts bytes (UTF-8), and 65535 is its ceiling.
VARCHAR_MAX_BYTES = 65535
# Milvus caps one JSON value at 65,536 bytes (milvus.io docs, "JSON Field" limits).
JSON_MAX_BYTES = 65536
ID_MAX_BYTES = 128  # doc_id: 64 hex chars of sha256, with headroom for other id schemes
PAGE_ID_MAX_BYTES = 160  # "doc_id:page_no"
TOKEN_KEY_MAX_BYTES = 192  # "doc_id:page_no:chunk"
SOURCE_MAX_BYTES = 4096  # Linux PATH_MAX
SHORT_MAX_BYTES = 64  # mode, status, dtype, text_source, sha256 hex
ERROR_MAX_BYTES = 8192

# BM25 (Okapi) defaults: k1 saturates term frequency, b normalises by page length.
BM25_K1 = 1.2
BM25_B = 0.75
# Milvus requires at least one vector field in every collection; tokens and docs have no use for one, so
# they carry this 2-d placeholder (2 is the smallest dim Milvus accepts), always written as zeros.
DUMMY_DIM = 2
DUMMY_VECTOR = [0.0] * DUMMY_DIM

# Scalar page fields returned by search and get_pages (everything except vectors and the sparse field).
PAGE_SCALAR_FIELDS = (
    "page_id",
    "doc_id",
    "page_no",
    "source",
    "mode",
    "n_tokens",
    "text_source",
    "width",
    "height",
    "dpi",
    "text",
    "lines",
    "text_bytes",
    "token_bytes",
)
TOKEN_FIELDS = (
    *("key", "page_id", "doc_id", "chunk", "n_chunks"),
    *("dtype", "shape", "sha256", "codec", "payload"),
)
DOC_FIELDS = ("doc_id", "source", "pages", "status", "bytes", "mode", "error", "indexed_at")

_VERSION = {VERSION_PROPERTY: SCHEMA_VERSION}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")


def check_fits(value: str, max_bytes: int, what: str) -> None:
    """Refuse a string a VARCHAR field cannot hold (where cutting it would change its meaning).

    Args:
        value: the string.
        max_bytes: the field's max_length (UTF-8 bytes).
        what: name for the message.

    Raises:
        ValueError: the value is too long.
    """
    size = len(value.encode("utf-8"))
    if size > max_bytes:
        raise ValueError(f"{what} is {size} bytes; the index stores at most {max_bytes}")


@dataclass(frozen=True)
class CollectionNames:
    """The collection names of one index (`reads`: made on first use, retriever/reads.py)."""

    pages: str
    tokens: str
    docs: str
    reads: str


def collection_names(name: str) -> CollectionNames:
    """Names of the collections of index `name`.

    Args:
        name: index name; letters, digits and underscores, not starting with a digit (Milvus' rule).

    Returns:
        CollectionNames.

    Raises:
        ValueError: `name` is not a valid Milvus collection name prefix.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid index name {name!r}: use letters, digits and '_', not starting with a digit"
        )
    return CollectionNames(f"{name}_pages", f"{name}_tokens", f"{name}_docs", f"{name}_reads")


def _described(properties: dict[str, str]) -> str:
    # milvus-lite 2.5 keeps no collection properties but does keep the schema's description, so the same
    # key/values are written there too (Connection.collection_properties reads both).
    return json.dumps(properties, sort_keys=True)


def pages_properties(config: IndexConfig) -> dict[str, str]:
    """The collection properties of `<name>_pages`: the config that built the index and the schema version.

    Args:
        config: the index config.

    Returns:
        Property name → value.
    """
    return {CONFIG_PROPERTY: config.to_json(), VERSION_PROPERTY: SCHEMA_VERSION}


def pages_schema(config: IndexConfig, engine: Engine) -> tuple[CollectionSchema, IndexParams]:
    """Schema and indexes of `<name>_pages`.

    Args:
        config: gives text_dim, and vision_dim when a vision encoder is configured.
        engine: the Milvus engine, which decides the dense index type (retriever/engine.py).

    Returns:
        (schema, index params); the schema's description records the config (see `pages_properties`).
    """
    s = MilvusClient.create_schema(
        auto_id=False, enable_dynamic_field=False, description=_described(pages_properties(config))
    )
    s.add_field("page_id", DataType.VARCHAR, is_primary=True, max_length=PAGE_ID_MAX_BYTES)
    s.add_field("doc_id", DataType.VARCHAR, max_length=ID_MAX_BYTES)
    s.add_field("page_no", DataType.INT64)
    s.add_field("source", DataType.VARCHAR, max_length=SOURCE_MAX_BYTES)
    s.add_field("mode", DataType.VARCHAR, max_length=SHORT_MAX_BYTES)
    s.add_field("n_tokens", DataType.INT64)
    s.add_field("text_source", DataType.VARCHAR, max_length=SHORT_MAX_BYTES)
    s.add_field("width", DataType.FLOAT)
    s.add_field("height", DataType.FLOAT)
    s.add_field("dpi", DataType.FLOAT)
    s.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX_BYTES, enable_analyzer=True)
    # [[start, end, x0, y0, x1, y1], ...]: a list of lists is a third the size of a list of objects.
    s.add_field("lines", DataType.JSON)
    # Sizes kept per page so stats() never has to read text or token payloads back.
    s.add_field("text_bytes", DataType.INT64)
    s.add_field("token_bytes", DataType.INT64)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("text_vec", DataType.FLOAT_VECTOR, dim=config.text_dim)
    if config.vision_dim is not None:
        s.add_field("vision_vec", DataType.FLOAT_VECTOR, dim=config.vision_dim)
    s.add_function(
        Function(
            name="text_bm25",
            function_type=FunctionType.BM25,
            input_field_names=["text"],
            output_field_names=["sparse"],
        )
    )
    idx = MilvusClient.prepare_index_params()
    idx.add_index(
        "sparse",
        index_type="SPARSE_INVERTED_INDEX",
        metric_type="BM25",
        params={"bm25_k1": BM25_K1, "bm25_b": BM25_B},
    )
    dense = {"index_type": engine.dense_index, "metric_type": "COSINE", "params": dict(engine.dense_build)}
    idx.add_index("text_vec", **dense)
    if config.vision_dim is not None:
        idx.add_index("vision_vec", **dense)
    idx.add_index("doc_id", index_type="INVERTED")
    return s, idx


def tokens_schema() -> tuple[CollectionSchema, IndexParams]:
    """Schema and indexes of `<name>_tokens`: one row per base64 chunk of a page's packed token tensor.

    Returns:
        (schema, index params).
    """
    s = MilvusClient.create_schema(
        auto_id=False, enable_dynamic_field=False, description=_described(_VERSION)
    )
    s.add_field("key", DataType.VARCHAR, is_primary=True, max_length=TOKEN_KEY_MAX_BYTES)
    s.add_field("page_id", DataType.VARCHAR, max_length=PAGE_ID_MAX_BYTES)
    s.add_field("doc_id", DataType.VARCHAR, max_length=ID_MAX_BYTES)
    s.add_field("chunk", DataType.INT64)
    s.add_field("n_chunks", DataType.INT64)
    s.add_field("dtype", DataType.VARCHAR, max_length=SHORT_MAX_BYTES)
    s.add_field("shape", DataType.JSON)
    s.add_field("sha256", DataType.VARCHAR, max_length=SHORT_MAX_BYTES)  # of the raw tensor bytes
    s.add_field("codec", DataType.VARCHAR, max_length=SHORT_MAX_BYTES)  # token_codec.CODECS
    s.add_field("payload", DataType.VARCHAR, max_length=VARCHAR_MAX_BYTES)
    s.add_field("dummy_vec", DataType.FLOAT_VECTOR, dim=DUMMY_DIM)  # see DUMMY_DIM
    idx = MilvusClient.prepare_index_params()
    idx.add_index("dummy_vec", index_type="FLAT", metric_type="L2")
    idx.add_index("page_id", index_type="INVERTED")
    idx.add_index("doc_id", index_type="INVERTED")
    return s, idx


def docs_schema() -> tuple[CollectionSchema, IndexParams]:
    """Schema and indexes of `<name>_docs`, the document manifest.

    Returns:
        (schema, index params).
    """
    s = MilvusClient.create_schema(
        auto_id=False, enable_dynamic_field=False, description=_described(_VERSION)
    )
    s.add_field("doc_id", DataType.VARCHAR, is_primary=True, max_length=ID_MAX_BYTES)
    s.add_field("source", DataType.VARCHAR, max_length=SOURCE_MAX_BYTES)
    s.add_field("pages", DataType.INT64)
    s.add_field("status", DataType.VARCHAR, max_length=SHORT_MAX_BYTES)
    s.add_field("bytes", DataType.INT64)
    s.add_field("mode", DataType.VARCHAR, max_length=SHORT_MAX_BYTES)
    s.add_field("error", DataType.VARCHAR, max_length=ERROR_MAX_BYTES)
    s.add_field("indexed_at", DataType.DOUBLE)  # Unix seconds
    s.add_field("dummy_vec", DataType.FLOAT_VECTOR, dim=DUMMY_DIM)  # see DUMMY_DIM
    idx = MilvusClient.prepare_index_params()
    idx.add_index("dummy_vec", index_type="FLAT", metric_type="L2")
    idx.add_index("source", index_type="INVERTED")
    idx.add_index("status", index_type="INVERTED")
    return s, idx


def index_exists(conn: Connection, names: CollectionNames) -> bool:
    """Whether a committed index is there: the pages collection is created last, so it marks one.

    Args:
        conn: open connection.
        names: the index's collections.

    Returns:
        True when `<name>_pages` exists.
    """
    return conn.has_collection(names.pages)


def create_index(
    conn: Connection, names: CollectionNames, config: IndexConfig, *, recreate: bool = False
) -> None:
    """Create the three collections (loaded); with `recreate`, drop the old ones first.

    Creation order is tokens, docs, pages: pages carries the config and is the commit mark, so a crash
    half-way leaves no "index" that later opens would trust. A plain create drops nothing and keeps what
    exists, so N processes creating the index at once (sharded workers and an API starting together) end
    with one: an identical collection or index created twice is a no-op in Milvus. Leftovers of an
    interrupted create are empty, and `drop_index` removes pages last, so a missing pages collection never
    sits beside rows of an older index. The caller compares the stored config afterwards.

    Args:
        conn: open connection.
        names: the index's collections.
        config: the configuration to build (and record) the index with.
        recreate: drop the existing collections (all their rows) first.
    """
    if recreate:
        drop_index(conn, names)
    for name, (schema, idx), props in (
        (names.tokens, tokens_schema(), _VERSION),
        (names.docs, docs_schema(), _VERSION),
    ):
        create_collection(conn, name, schema, props)
        create_indexes(conn, name, idx)
        conn.ensure_loaded(name)
    create_collection(conn, names.pages, pages_schema(config, conn.engine)[0], pages_properties(config))
    ensure_pages_indexes(conn, names, config)


def ensure_pages_indexes(conn: Connection, names: CollectionNames, config: IndexConfig) -> None:
    """Index and load the pages collection, creating whichever of its indexes are missing.

    An opener can find the pages collection of a concurrent creator before its indexes (it cannot load
    then); identical indexes created twice are a no-op, so it finishes the job. Its companions are complete
    by then: `create_index` makes pages last.

    Args:
        conn: open connection.
        names: the index's collections.
        config: the index's configuration (gives the vector fields).
    """
    idx = pages_schema(config, conn.engine)[1]
    with milvus_errors(f"list_indexes {names.pages}"):
        have = set(conn.client.list_indexes(names.pages) or [])
    if {param.field_name for param in idx} - have:
        try:
            create_indexes(conn, names.pages, idx)
        except RetrieverError as exc:
            if LOCAL_MODE_REFUSAL not in exc.message or conn.engine.dense_index == "IVF_FLAT":
                raise
            # A server URI that turns out to be the milvus-lite 2.5 core: no HNSW there (retriever/engine.py).
            conn.engine = conn.engine.with_dense_index("IVF_FLAT")
            create_indexes(conn, names.pages, pages_schema(config, conn.engine)[1])
    conn.ensure_loaded(names.pages)


def create_collection(conn: Connection, name: str, schema: CollectionSchema, props: dict[str, str]) -> None:
    """Create collection `name` unless it exists; another process creating it at the same time is fine."""
    if conn.has_collection(name):
        return
    try:
        with milvus_errors(f"create_collection {name}"):
            # Strong consistency: the indexer reads back what it just wrote (resume, existing_pages), and a
            # search right after complete_doc, from any client of the same server, sees the document.
            conn.client.create_collection(name, schema=schema, consistency_level="Strong", properties=props)
    except RetrieverError:
        if not conn.has_collection(name):  # not a concurrent creator's collection: a real failure
            raise


def create_indexes(conn: Connection, name: str, idx: IndexParams) -> None:
    with milvus_errors(f"create_index {name}"):
        # sync=False: pymilvus otherwise polls every index with a fixed 0.5 s sleep (~5 s per new
        # index); indexes on an empty collection are ready at once, and load waits for them anyway.
        conn.client.create_index(name, idx, sync=False)


def drop_index(conn: Connection, names: CollectionNames) -> None:
    """Drop the three collections, pages last.

    A crash half-way leaves the pages collection without a companion, which `open_collections` refuses
    (never a half index that looks whole), and a missing pages collection always means no rows remain:
    what lets `create_index` reuse collections it finds instead of dropping them (race-safe creation).

    Args:
        conn: open connection.
        names: the index's collections.
    """
    for name in (names.reads, names.docs, names.tokens, names.pages):
        conn.drop_collection(name)


def stored_config(conn: Connection, names: CollectionNames) -> IndexConfig:
    """The IndexConfig recorded when the index was created.

    Args:
        conn: open connection.
        names: the index's collections (must exist).

    Returns:
        The stored IndexConfig.

    Raises:
        IndexConfigMismatchError: the index was written by another schema version or records no config.
    """
    props = conn.collection_properties(names.pages)
    version = props.get(VERSION_PROPERTY)
    if version != SCHEMA_VERSION:
        raise IndexConfigMismatchError(
            f"vtrag schema version {version or 'unknown'}", f"vtrag schema version {SCHEMA_VERSION}"
        )
    try:
        return IndexConfig.from_json(props.get(CONFIG_PROPERTY, ""))
    except ValueError as exc:
        raise IndexConfigMismatchError("an unreadable index config", "a vtrag index") from exc


def open_collections(conn: Connection, names: CollectionNames) -> None:
    """Make sure all three collections exist and are loaded.

    Args:
        conn: open connection.
        names: the index's collections.

    Raises:
        IndexConfigMismatchError: the pages collection exists but its companions do not (not our index,
            or damaged): refusing is safer than recreating rows someone may still need.
    """
    for name in (names.tokens, names.docs):
        if not conn.has_collection(name):
            raise IndexConfigMismatchError(
                f"an index missing its {name} collection", "a complete vtrag index"
            )
    for name in (names.pages, names.tokens, names.docs):
        conn.ensure_loaded(name)
    built_with = conn.dense_index_type(names.pages, "text_vec")
    if built_with is not None and built_with != conn.engine.dense_index:
        conn.engine = conn.engine.with_dense_index(built_with)
