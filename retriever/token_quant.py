"""Lossy token codecs: a page's rows as 8-bit codes with one float32 scale per row.

An index picks its token codec once (`IndexConfig.token_codec`): "lossless" keeps the rows bit for bit
(token_codec.py packs their bytes); the two codecs here trade fidelity for about half the bytes of bf16:

- "int8": per-row absmax scale s = max|x| / 127, codes q = round(x / s) in [-127, 127].
  Error bound per element: |x - x'| <= s / 2 = max|x_row| / 254 (before the cast back to the stored dtype,
  which adds at most half an ulp of x': |x'| * 2^-8 for bf16, or a subnormal step of fp16 near zero).
- "fp8-e4m3": per-row scale s = max|x| / 448 (the largest e4m3fn value), codes = x / s rounded to
  float8 e4m3fn (3 mantissa bits, round to nearest even). Error bound per element:
  |x - x'| <= |x| * 2^-4 + s * 2^-10 (the second term: subnormals near zero), plus the same cast rounding.

Payload layout (little-endian): the float32 scales of all rows, then the one-byte codes row by row. A tensor
of any shape is quantized as (prod(shape[:-1]), shape[-1]) rows; a 0-d tensor as one row of one.
Rows holding NaN or inf cannot be scaled and are refused (lossless stores them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from retriever.records import LOSSLESS, TOKEN_CODECS

INT8 = "int8"
FP8_E4M3 = "fp8-e4m3"
QUANTIZED = (INT8, FP8_E4M3)
INT8_MAX = 127.0
FP8_E4M3_MAX = 448.0  # torch.finfo(torch.float8_e4m3fn).max
SCALE_BYTES = 4  # one float32 per row


def check_token_codec(name: str) -> str:
    """The codec name if it is one of TOKEN_CODECS; ValueError naming the valid ones otherwise."""
    if name not in TOKEN_CODECS:
        raise ValueError(f"unknown token codec {name!r}; choose one of {', '.join(TOKEN_CODECS)}")
    return name


def row_shape(shape: Sequence[int]) -> tuple[int, int]:
    """(rows, cols) a tensor of `shape` is quantized as: one scale per row of the last dimension."""
    if len(shape) == 0:
        return 1, 1
    cols = int(shape[-1])
    return math.prod(int(d) for d in shape[:-1]), cols


def payload_size(codec: str, shape: Sequence[int]) -> int:
    """Bytes a quantized payload of `shape` takes: a float32 scale per row plus one byte per element."""
    if codec not in QUANTIZED:
        raise ValueError(f"{codec!r} is not a quantized token codec")
    rows, cols = row_shape(shape)
    return rows * SCALE_BYTES + rows * cols


def quantize(tensor: torch.Tensor, codec: str) -> np.ndarray:
    """Quantize a float tensor row by row.

    Args:
        tensor: bf16, fp16 or fp32, any shape, any device; every value finite.
        codec: "int8" or "fp8-e4m3".

    Returns:
        The payload: a contiguous uint8 array of `payload_size(codec, tensor.shape)` bytes.

    Raises:
        ValueError: an unknown codec, or a NaN/inf value.
    """
    if codec not in QUANTIZED:
        raise ValueError(f"{codec!r} is not a quantized token codec")
    rows, cols = row_shape(tensor.shape)
    x = tensor.detach().to("cpu", torch.float32).reshape(rows, cols)  # (rows, cols)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"token codec {codec} cannot store NaN or inf values; use the lossless codec")
    absmax = x.abs().amax(dim=1) if cols else torch.zeros(rows)  # (rows,)
    limit = INT8_MAX if codec == INT8 else FP8_E4M3_MAX
    scale = absmax / limit
    # A zero row keeps scale 0 and codes 0; dividing by 1 there avoids 0/0.
    safe = torch.where(scale > 0, scale, torch.ones_like(scale)).unsqueeze(1)  # (rows, 1)
    if codec == INT8:
        codes = torch.round(x / safe).clamp_(-INT8_MAX, INT8_MAX).to(torch.int8).view(torch.uint8)
    else:
        # x / s can exceed 448 by a rounding ulp; e4m3fn has no inf, so clamp before the cast.
        scaled = (x / safe).clamp_(-FP8_E4M3_MAX, FP8_E4M3_MAX)
        codes = scaled.to(torch.float8_e4m3fn).view(torch.uint8)
    head = scale.to(torch.float32).numpy().astype("<f4").view(np.uint8)
    return np.concatenate([head, codes.reshape(-1).numpy()])


def dequantize(payload: np.ndarray, codec: str, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    """Rebuild the rows from a payload `quantize` wrote.

    Args:
        payload: uint8 array of exactly `payload_size(codec, shape)` bytes.
        codec: "int8" or "fp8-e4m3".
        shape: the tensor's shape.
        dtype: the dtype to return (the one the rows were written in).

    Returns:
        A CPU tensor of `shape` and `dtype`: codes times their row's scale.

    Raises:
        ValueError: an unknown codec or a payload of the wrong size.
    """
    size = payload_size(codec, shape)
    if payload.nbytes != size:
        raise ValueError(f"{payload.nbytes} payload bytes, {size} expected for {codec} {tuple(shape)}")
    rows, cols = row_shape(shape)
    raw = np.ascontiguousarray(payload, dtype=np.uint8)
    scale = torch.from_numpy(raw[: rows * SCALE_BYTES].copy().view("<f4").astype(np.float32))  # (rows,)
    codes = torch.from_numpy(raw[rows * SCALE_BYTES :].copy()).reshape(rows, cols)  # (rows, cols) uint8
    if codec == INT8:
        values = codes.view(torch.int8).to(torch.float32)
    else:
        values = codes.view(torch.float8_e4m3fn).to(torch.float32)
    return (values * scale.unsqueeze(1)).to(dtype).reshape(tuple(int(d) for d in shape))


__all__ = [
    "FP8_E4M3",
    "INT8",
    "LOSSLESS",
    "QUANTIZED",
    "TOKEN_CODECS",
    "check_token_codec",
    "dequantize",
    "payload_size",
    "quantize",
    "row_shape",
]
