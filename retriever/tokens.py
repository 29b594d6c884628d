"""Lossless storage of a page's vision-token tensor as chunked base64 rows in `<name>_tokens`.

Milvus Lite has no FLOAT16/BFLOAT16 vector types, and one row per token is ~300x slower to fetch
(DESIGN.md), so a page's tensor is stored as bytes in VARCHAR rows:

    raw little-endian bytes → token_codec.pack (byte planes + zstd level 1, or raw if that is no smaller)
    → base64 (ASCII, so VARCHAR's byte limit equals its length) → chunks of CHUNK_CHARS, one row each.

Every row carries page_id, chunk, n_chunks, dtype, shape, codec and the sha256 of the RAW tensor bytes;
reading uses chunk 0's. The sha256 is checked on every read, after unpacking.

An index whose token codec is lossy (retriever/token_quant.py) stores the quantized payload (row scales +
8-bit codes) instead of the tensor bytes, packed the same way; its rows' codec reads "<codec>+<packing>"
(e.g. "int8+zstd-planes"), the sha256 is the payload's, and reading dequantizes to the written dtype.
"""

from __future__ import annotations

import binascii
import hashlib
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pybase64

from retriever.connection import Connection
from retriever.errors import TokenIntegrityError
from retriever.filters import Filter, field_equals, field_in
from retriever.records import LOSSLESS, PageRecord
from retriever.schema import DUMMY_VECTOR, TOKEN_FIELDS, VARCHAR_MAX_BYTES
from retriever.token_codec import CodecError, pack, unpack
from retriever.token_quant import QUANTIZED, check_token_codec, dequantize, payload_size, quantize

# Chunk length in base64 characters: under VARCHAR's 65535-byte limit and a multiple of 4, so every chunk
# is itself valid base64 (handy when inspecting rows by hand).
CHUNK_CHARS = (VARCHAR_MAX_BYTES // 4) * 4
# Pages per query when reading: ~0.65 MB of base64 per packed Base page keeps a query near 5 MB.
READ_BATCH_PAGES = 8

if TYPE_CHECKING:
    import torch

DTYPE_NAMES = ("bfloat16", "float16", "float32")  # what can be stored


def __getattr__(name: str) -> Any:
    # DTYPES (name -> torch dtype) is made on first use: torch is imported only where tensors are read or
    # written, so the lite profile's search and answers never pay for it.
    if name == "DTYPES":
        return _dtypes()
    raise AttributeError(name)


def _dtypes() -> dict[str, torch.dtype]:
    import torch

    return {n: getattr(torch, n) for n in DTYPE_NAMES}


@dataclass(frozen=True)
class TokenBlob:
    """A tensor in stored form.

    Attributes:
        page_id: the page it belongs to.
        dtype: a key of DTYPES.
        shape: tensor shape.
        sha256: hex digest of the raw tensor bytes.
        codec: how the raw bytes were packed (token_codec.CODECS), after "<token codec>+" when lossy.
        text: base64 of the packed bytes (ASCII), stored in pieces of at most CHUNK_CHARS.
        raw_bytes: size of the raw tensor bytes (lossy codecs: of the quantized payload).
    """

    page_id: str
    dtype: str
    shape: tuple[int, ...]
    sha256: str
    codec: str
    text: bytes
    raw_bytes: int

    @property
    def n_chunks(self) -> int:
        return max(1, -(-len(self.text) // CHUNK_CHARS))

    def chunk_views(self) -> list[memoryview]:
        """The stored pieces as views of `text`: a write copies them once, into its request."""
        view = memoryview(self.text)
        return [view[i * CHUNK_CHARS : (i + 1) * CHUNK_CHARS] for i in range(self.n_chunks)]

    @property
    def chunks(self) -> list[str]:
        """The stored pieces as text (the rows' `payload` values)."""
        return [bytes(piece).decode("ascii") for piece in self.chunk_views()]


def stored_size(token_codec: str, tensor: torch.Tensor) -> int:
    """Bytes the codec's payload of `tensor` takes before packing (what a page row records as token_bytes).

    Args:
        token_codec: one of records.TOKEN_CODECS.
        tensor: the rows.

    Returns:
        The raw tensor size (lossless) or the quantized payload size.
    """
    if check_token_codec(token_codec) == LOSSLESS:
        return tensor.numel() * tensor.element_size()
    return payload_size(token_codec, tensor.shape)


def check_page_tokens(pages: Sequence[PageRecord], tokens: Mapping[int, torch.Tensor]) -> None:
    """What `IndexStore.write_pages` asks of its tokens: one document's pages, each key one of their page
    numbers, a storable dtype.

    Raises:
        ValueError: saying which of these fails.
    """
    if not tokens:
        return
    if len({p.doc_id for p in pages}) != 1:
        raise ValueError("write_pages with tokens needs pages of exactly one document")
    unknown = sorted(set(tokens) - {p.page_no for p in pages})
    if unknown:
        raise ValueError(f"tokens given for pages {unknown} that are not being written")
    dtypes = _dtypes()
    bad = sorted(no for no, t in tokens.items() if t.dtype not in dtypes.values())
    if bad:
        raise ValueError(f"tokens of pages {bad}: dtype must be one of {sorted(dtypes)}")


def payload_sizes(token_codec: str, tensors: Mapping[int, torch.Tensor]) -> dict[int, int]:
    """`stored_size` of each tensor: page_no → bytes of its payload in `token_codec`."""
    return {no: stored_size(token_codec, t) for no, t in tensors.items()}


def encode_tensor(page_id: str, tensor: torch.Tensor, token_codec: str = LOSSLESS) -> TokenBlob:
    """Turn a tensor into its stored form: bit for bit, or quantized by a lossy token codec.

    Args:
        page_id: the page the rows belong to.
        tensor: bf16, fp16 or fp32, any shape, any device.
        token_codec: one of records.TOKEN_CODECS.

    Returns:
        The TokenBlob.

    Raises:
        ValueError: unsupported dtype or codec, NaN/inf under a lossy codec, or a big-endian host (stored
            bytes are little-endian).
    """
    name = {d: n for n, d in _dtypes().items()}.get(tensor.dtype)
    if name is None:
        raise ValueError(f"cannot store tokens of dtype {tensor.dtype}; use one of {sorted(DTYPE_NAMES)}")
    if sys.byteorder != "little":
        raise ValueError("token storage assumes a little-endian host")
    if check_token_codec(token_codec) == LOSSLESS:
        import torch

        flat = tensor.detach().to("cpu").contiguous().reshape(-1)  # (numel,)
        raw = flat.view(torch.uint8).numpy()  # bf16 has no numpy dtype; its bytes do
        codec, packed = pack(raw, tensor.element_size())
    else:
        try:
            raw = quantize(tensor, token_codec)
        except ValueError as exc:
            raise ValueError(f"page {page_id}: {exc}") from exc
        packing, packed = pack(raw, 1)  # one-byte codes: the planes are the bytes themselves
        codec = f"{token_codec}+{packing}"
    return TokenBlob(
        page_id=page_id,
        dtype=name,
        shape=tuple(int(d) for d in tensor.shape),
        sha256=hashlib.sha256(raw.data).hexdigest(),
        codec=codec,
        text=pybase64.b64encode(packed),
        raw_bytes=raw.nbytes,
    )


def decode_tensor(
    page_id: str,
    dtype: str,
    shape: Sequence[int],
    sha256: str,
    codec: str,
    chunks: Sequence[str | bytes | memoryview],
) -> torch.Tensor:
    """Rebuild the exact tensor from its stored form.

    Args:
        page_id: for error messages.
        dtype: a key of DTYPES.
        shape: the tensor shape.
        sha256: expected hex digest of the raw tensor bytes.
        codec: how the bytes were packed (token_codec.CODECS), after "<token codec>+" when lossy.
        chunks: the base64 chunks in order.

    Returns:
        A CPU tensor bit-identical to the one stored (lossy codecs: the dequantized rows, in `dtype`).

    Raises:
        TokenIntegrityError: unknown dtype or codec, bad shape, bad base64, a corrupt compressed stream,
            a size that does not fit the shape, or a sha256 mismatch.
    """
    import torch

    torch_dtype = _dtypes().get(dtype)
    if torch_dtype is None:
        raise TokenIntegrityError(page_id, f"unknown dtype {dtype!r}")
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError) as exc:
        raise TokenIntegrityError(page_id, f"bad shape {shape!r}") from exc
    if any(d < 0 for d in shape):
        raise TokenIntegrityError(page_id, f"bad shape {shape}")
    quant, _, packing = codec.rpartition("+")
    if quant and quant not in QUANTIZED:
        raise TokenIntegrityError(page_id, f"unknown token codec {quant!r} (codec {codec})")
    itemsize = torch.empty((), dtype=torch_dtype).element_size()
    # Python ints: a corrupt huge shape cannot overflow.
    size = payload_size(quant, shape) if quant else itemsize * math.prod(shape)
    try:
        # pybase64 decodes with SIMD (~35x binascii here); validate=True still rejects any byte outside
        # the alphabet and bad padding, before the sha256 has to catch it.
        packed = pybase64.b64decode(_joined(chunks), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TokenIntegrityError(page_id, f"payload is not base64: {exc}") from exc
    try:
        raw = unpack(packing, packed, 1 if quant else itemsize, size)
    except CodecError as exc:
        raise TokenIntegrityError(page_id, f"{exc} (shape {shape} of {dtype}, codec {codec})") from exc
    if hashlib.sha256(raw.data).hexdigest() != sha256:
        raise TokenIntegrityError(page_id, "sha256 mismatch")
    if quant:
        return dequantize(raw, quant, shape, torch_dtype)
    return torch.from_numpy(raw).view(torch_dtype).reshape(shape)


def _joined(chunks: Sequence[str | bytes | memoryview]) -> str | bytes:
    """The base64 text of stored pieces: text as Milvus returns it, or the bytes a blob's rows hold."""
    if all(isinstance(chunk, str) for chunk in chunks):
        return "".join(chunks)  # type: ignore[arg-type]
    return b"".join(chunk.encode() if isinstance(chunk, str) else chunk for chunk in chunks)


def blob_rows(blob: TokenBlob, doc_id: str) -> list[dict[str, Any]]:
    """The `<name>_tokens` rows of one blob.

    Args:
        blob: the encoded tensor.
        doc_id: owning document (for deletes by document).

    Returns:
        One row per chunk, keyed "page_id:chunk".
    """
    n = blob.n_chunks
    return [
        {
            "key": f"{blob.page_id}:{i}",
            "page_id": blob.page_id,
            "doc_id": doc_id,
            "chunk": i,
            "n_chunks": n,
            "dtype": blob.dtype,
            "shape": list(blob.shape),
            "sha256": blob.sha256,
            "codec": blob.codec,
            "payload": payload,
            "dummy_vec": DUMMY_VECTOR,
        }
        for i, payload in enumerate(blob.chunk_views())  # ASCII bytes: sent as they are (upsert_request)
    ]


def tensors_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """Group chunk rows by page and decode each page.

    The row of chunk 0 names the chunk count; extra rows past it (left by an interrupted rewrite to a
    shorter tensor) are ignored, and mixed chunks of two writes fail the sha256 check.

    Args:
        rows: token rows with every TOKEN_FIELDS field.

    Returns:
        page_id → tensor, for every page that has rows.

    Raises:
        TokenIntegrityError: a chunk is missing or the bytes do not verify.
    """
    by_page: dict[str, dict[int, Mapping[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_page[str(row["page_id"])][int(row["chunk"])] = row
    out: dict[str, torch.Tensor] = {}
    for page_id, chunks in by_page.items():
        head = chunks.get(0)
        if head is None:
            raise TokenIntegrityError(page_id, "chunk 0 is missing")
        n = int(head["n_chunks"])
        missing = [i for i in range(n) if i not in chunks]
        if missing:
            raise TokenIntegrityError(page_id, f"chunks {missing[:5]} of {n} are missing")
        payloads = [chunks[i]["payload"] for i in range(n)]
        out[page_id] = decode_tensor(
            page_id, str(head["dtype"]), head["shape"], str(head["sha256"]), str(head["codec"]), payloads
        )
    return out


def write_tokens(
    conn: Connection,
    collection: str,
    doc_id: str,
    tensors: Mapping[str, torch.Tensor],
    *,
    replace: bool = True,
    token_codec: str = LOSSLESS,
) -> dict[str, int]:
    """Store tensors, replacing any earlier version of the same pages.

    Args:
        conn: open connection.
        collection: the tokens collection.
        doc_id: the document all pages belong to.
        tensors: page_id → tensor.
        replace: drop chunks an earlier, longer version left past the new end (False: none can exist).
        token_codec: one of records.TOKEN_CODECS (every page is encoded before anything is written).

    Returns:
        page_id → bytes of the codec's payload stored (lossless: the raw tensor bytes).
    """
    blobs = {page_id: encode_tensor(page_id, tensor, token_codec) for page_id, tensor in tensors.items()}
    rows = [row for blob in blobs.values() for row in blob_rows(blob, doc_id)]
    # All pages' chunks in as few requests as fit, as columns: a build's writes are bound by the client's
    # per-row packing otherwise (Connection.upsert_columns).
    columns = {field: [row[field] for row in rows] for field in rows[0]} if rows else {}
    conn.upsert_columns(collection, columns, row_bytes=CHUNK_CHARS)
    if not replace:
        return {page_id: blob.raw_bytes for page_id, blob in blobs.items()}
    # A longer earlier version leaves chunks past the new end; drop them (after the new ones are in) so they
    # cannot linger: one delete per distinct chunk count, not one per page.
    by_count: dict[int, list[str]] = defaultdict(list)
    for page_id, blob in blobs.items():
        by_count[blob.n_chunks].append(page_id)
    for n, page_ids in sorted(by_count.items()):
        conn.delete(collection, Filter("page_id in {ids} and chunk >= {n}", {"ids": page_ids, "n": n}))
    return {page_id: blob.raw_bytes for page_id, blob in blobs.items()}


def read_tokens(conn: Connection, collection: str, page_ids: Sequence[str]) -> dict[str, torch.Tensor]:
    """Fetch and verify the tensors of some pages.

    Args:
        conn: open connection.
        collection: the tokens collection.
        page_ids: pages to read; pages without stored tokens are absent from the result.

    Returns:
        page_id → tensor, bit-identical to what was written.

    Raises:
        TokenIntegrityError: stored rows are incomplete or fail their sha256.
    """
    wanted = list(dict.fromkeys(page_ids))
    out: dict[str, torch.Tensor] = {}
    for start in range(0, len(wanted), READ_BATCH_PAGES):
        batch = wanted[start : start + READ_BATCH_PAGES]
        # A plain query, not an iterator: a batch is a few hundred rows, and this is the decode hot path.
        rows = conn.query(collection, field_in("page_id", batch), TOKEN_FIELDS)
        out.update(tensors_from_rows(rows))
    return {pid: out[pid] for pid in wanted if pid in out}


def delete_doc_tokens(conn: Connection, collection: str, doc_id: str) -> None:
    """Delete every token row of a document.

    Args:
        conn: open connection.
        collection: the tokens collection.
        doc_id: the document.
    """
    conn.delete(collection, field_equals("doc_id", doc_id))
