"""Token blob codec: bit-identical round trips and integrity checks (pure, no server)."""

from __future__ import annotations

import pybase64
import pytest
import torch
import zstandard

from retriever.errors import TokenIntegrityError
from retriever.token_codec import CODEC_RAW, CODEC_ZSTD_PLANES
from retriever.tokens import (
    CHUNK_CHARS,
    TokenBlob,
    blob_rows,
    decode_tensor,
    encode_tensor,
    tensors_from_rows,
)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bitwise equality (also for NaN payloads and -0.0, which == would not compare bit for bit)."""
    as_int = {torch.bfloat16: torch.int16, torch.float16: torch.int16, torch.float32: torch.int32}[a.dtype]
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(as_int), b.view(as_int))


def _noise(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A tensor of uniformly random bytes (NaNs and infs included), which no codec can shrink."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    n = itemsize
    for d in shape:
        n *= d
    gen = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (n,), dtype=torch.uint8, generator=gen).view(dtype).reshape(shape)


def _decode(blob: TokenBlob) -> torch.Tensor:
    return decode_tensor(blob.page_id, blob.dtype, blob.shape, blob.sha256, blob.codec, blob.chunks)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("shape", [(273, 1280), (1, 1280), (7, 3, 5), (13,), (0, 1280), ()])
def test_round_trip_is_bit_identical(dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(0)
    tensor = (torch.randn(shape, generator=gen) * 100).to(dtype)
    if tensor.numel():
        flat = tensor.view(-1)
        flat[0] = float("nan")
        flat[-1] = -0.0
    blob = encode_tensor("d:1", tensor)
    assert all(len(c) <= CHUNK_CHARS for c in blob.chunks)
    assert blob.raw_bytes == tensor.numel() * tensor.element_size()
    assert _same_bits(_decode(blob), tensor)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("shape", [(273, 1280), (5, 3)])
def test_bytes_that_do_not_compress_are_stored_raw_and_round_trip(
    dtype: torch.dtype, shape: tuple[int, ...]
) -> None:
    tensor = _noise(shape, dtype)
    blob = encode_tensor("d:1", tensor)
    assert blob.codec == CODEC_RAW
    assert _same_bits(_decode(blob), tensor)


def test_base_page_is_packed_smaller_than_raw_base64() -> None:
    blob = encode_tensor("d:1", torch.randn(273, 1280).to(torch.bfloat16))
    assert blob.codec == CODEC_ZSTD_PLANES
    assert sum(map(len, blob.chunks)) < blob.raw_bytes  # base64 of the raw bytes would be 4/3 of it


def test_non_contiguous_and_zero_dim_tensors() -> None:
    t = torch.randn(64, 32).to(torch.bfloat16).t()  # (32, 64) view, not contiguous
    assert _same_bits(_decode(encode_tensor("d:1", t)), t.contiguous())
    scalar = torch.tensor(3.25, dtype=torch.float16)
    assert _same_bits(_decode(encode_tensor("d:2", scalar)), scalar)


def test_unsupported_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match="dtype"):
        encode_tensor("d:1", torch.zeros(3, dtype=torch.int64))


def test_base_page_spans_several_chunks_and_rows_round_trip_in_any_order() -> None:
    tensor = torch.randn(273, 1280).to(torch.bfloat16)
    rows = blob_rows(encode_tensor("d:1", tensor), "d")
    assert len(rows) > 5 and [r["key"] for r in rows[:2]] == ["d:1:0", "d:1:1"]
    assert {r["codec"] for r in rows} == {CODEC_ZSTD_PLANES}
    out = tensors_from_rows(reversed(rows))
    assert _same_bits(out["d:1"], tensor)


def _rows(dtype: torch.dtype = torch.bfloat16, noise: bool = False) -> list[dict]:
    """A page's rows as Milvus returns them (payloads as text, where the rows written hold bytes)."""
    tensor = _noise((273, 1280), dtype) if noise else torch.randn(273, 1280).to(dtype)
    return [
        {**row, "payload": bytes(row["payload"]).decode()}
        for row in blob_rows(encode_tensor("d:1", tensor), "d")
    ]


def _replace_payload(rows: list[dict], packed: bytes) -> None:
    """Store other packed bytes (as the only chunk), keeping the head row's dtype, shape and sha256."""
    rows[0]["payload"] = pybase64.b64encode_as_string(packed)
    rows[0]["n_chunks"] = 1


def test_missing_chunk_and_bad_base64_are_detected() -> None:
    rows = _rows(torch.float16)
    with pytest.raises(TokenIntegrityError, match="missing"):
        tensors_from_rows(rows[:2] + rows[3:])
    with pytest.raises(TokenIntegrityError, match="chunk 0"):
        tensors_from_rows(rows[1:])
    rows[1]["payload"] = "!!!" + rows[1]["payload"][3:]
    with pytest.raises(TokenIntegrityError, match="base64"):
        tensors_from_rows(rows)


def test_truncated_payload_is_detected() -> None:
    rows = _rows()
    rows[-1]["payload"] = rows[-1]["payload"][:-4]  # still valid base64, a shorter zstd frame
    with pytest.raises(TokenIntegrityError, match="zstd"):
        tensors_from_rows(rows)


@pytest.mark.parametrize("noise", [False, True], ids=["zstd-planes", "raw"])
def test_tampered_bytes_fail_sha256(noise: bool) -> None:
    rows = _rows(noise=noise)
    # A zstd-planes frame starts with the low-byte plane, mantissa noise that zstd stores verbatim (raw
    # blocks): changing a character there changes tensor bytes without breaking the frame.
    payload = rows[0]["payload"]
    rows[0]["payload"] = payload[:1000] + ("A" if payload[1000] != "A" else "B") + payload[1001:]
    with pytest.raises(TokenIntegrityError, match="sha256"):
        tensors_from_rows(rows)


def test_corrupt_zstd_stream_is_detected() -> None:
    rows = _rows()
    mid = len(rows[-1]["payload"]) // 2  # the last chunk is the compressed high-byte plane
    rows[-1]["payload"] = rows[-1]["payload"][:mid][::-1] + rows[-1]["payload"][mid:]
    with pytest.raises(TokenIntegrityError, match="d:1"):
        tensors_from_rows(rows)
    rows = _rows()
    _replace_payload(rows, b"not a zstd frame at all")
    with pytest.raises(TokenIntegrityError, match="zstd"):
        tensors_from_rows(rows)


def test_zstd_frame_of_the_wrong_size_is_refused_before_decompressing() -> None:
    rows = _rows()
    # 64 MiB of zeros packs into a few KiB; the header's content size gives it away before any allocation.
    _replace_payload(rows, zstandard.ZstdCompressor().compress(bytes(64 << 20)))
    with pytest.raises(TokenIntegrityError, match="declares"):
        tensors_from_rows(rows)
    rows = _rows()
    rows[0]["shape"] = [273, 1279]  # the stored bytes no longer fill the shape
    with pytest.raises(TokenIntegrityError, match="expected"):
        tensors_from_rows(rows)
    rows = _rows(noise=True)
    rows[0]["shape"] = [273, 1281]
    with pytest.raises(TokenIntegrityError, match="expected"):
        tensors_from_rows(rows)


def test_trailing_data_after_the_frame_is_refused() -> None:
    rows = _rows()
    packed = pybase64.b64decode("".join(r["payload"] for r in rows))
    _replace_payload(rows, packed + b"\0\0\0\0")
    with pytest.raises(TokenIntegrityError, match="zstd"):
        tensors_from_rows(rows)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [("codec", "lz4", "unknown codec"), ("dtype", "int8", "unknown dtype"), ("shape", [-1, 2], "bad shape")],
)
def test_unknown_codec_dtype_or_bad_shape_is_refused(field: str, value: object, match: str) -> None:
    rows = _rows()
    rows[0][field] = value
    with pytest.raises(TokenIntegrityError, match=match):
        tensors_from_rows(rows)


def test_stale_chunks_past_the_end_are_ignored() -> None:
    long_rows = blob_rows(encode_tensor("d:1", _noise((273, 1280), torch.float32)), "d")
    short = torch.randn(2, 1280).to(torch.float32)
    short_rows = blob_rows(encode_tensor("d:1", short), "d")
    out = tensors_from_rows(short_rows + long_rows[len(short_rows) :])
    assert _same_bits(out["d:1"], short)
