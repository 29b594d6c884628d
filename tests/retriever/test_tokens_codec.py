"""Token blob codec: bit-identical round trips and integrity checks (pure, no server)."""

from __future__ import annotations

import pytest
import torch

from retriever.errors import TokenIntegrityError
from retriever.tokens import CHUNK_CHARS, blob_rows, decode_tensor, encode_tensor, tensors_from_rows


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bitwise equality (also for NaN payloads and -0.0, which == would not compare bit for bit)."""
    as_int = {torch.bfloat16: torch.int16, torch.float16: torch.int16, torch.float32: torch.int32}[a.dtype]
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(as_int), b.view(as_int))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("shape", [(273, 1280), (1, 1280), (7, 3, 5), (13,), (0, 1280)])
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
    back = decode_tensor("d:1", blob.dtype, blob.shape, blob.sha256, blob.chunks)
    assert _same_bits(back, tensor)


def test_non_contiguous_and_zero_dim_tensors() -> None:
    t = torch.randn(64, 32).to(torch.bfloat16).t()  # (32, 64) view, not contiguous
    blob = encode_tensor("d:1", t)
    assert _same_bits(decode_tensor("d:1", blob.dtype, blob.shape, blob.sha256, blob.chunks), t.contiguous())
    scalar = torch.tensor(3.25, dtype=torch.float16)
    blob = encode_tensor("d:2", scalar)
    assert _same_bits(decode_tensor("d:2", blob.dtype, blob.shape, blob.sha256, blob.chunks), scalar)


def test_unsupported_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match="dtype"):
        encode_tensor("d:1", torch.zeros(3, dtype=torch.int64))


def test_base_page_spans_several_chunks_and_rows_round_trip_in_any_order() -> None:
    tensor = torch.randn(273, 1280).to(torch.bfloat16)
    rows = blob_rows(encode_tensor("d:1", tensor), "d")
    assert len(rows) > 10 and [r["key"] for r in rows[:2]] == ["d:1:0", "d:1:1"]
    out = tensors_from_rows(reversed(rows))
    assert _same_bits(out["d:1"], tensor)


def test_tampered_chunk_fails_sha256() -> None:
    rows = blob_rows(encode_tensor("d:1", torch.randn(273, 1280).to(torch.bfloat16)), "d")
    payload = rows[3]["payload"]
    rows[3]["payload"] = ("A" if payload[0] != "A" else "B") + payload[1:]
    with pytest.raises(TokenIntegrityError, match="sha256"):
        tensors_from_rows(rows)


def test_missing_chunk_and_bad_base64_are_detected() -> None:
    rows = blob_rows(encode_tensor("d:1", torch.randn(273, 1280).to(torch.float16)), "d")
    with pytest.raises(TokenIntegrityError, match="missing"):
        tensors_from_rows(rows[:2] + rows[3:])
    rows[1]["payload"] = "!!!" + rows[1]["payload"][3:]
    with pytest.raises(TokenIntegrityError, match="base64"):
        tensors_from_rows(rows)


def test_stale_chunks_past_the_end_are_ignored() -> None:
    long_rows = blob_rows(encode_tensor("d:1", torch.randn(273, 1280).to(torch.float32)), "d")
    short = torch.randn(2, 1280).to(torch.float32)
    short_rows = blob_rows(encode_tensor("d:1", short), "d")
    out = tensors_from_rows(short_rows + long_rows[len(short_rows) :])
    assert _same_bits(out["d:1"], short)
