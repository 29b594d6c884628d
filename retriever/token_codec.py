"""Byte-level packing of a token tensor: byte planes + zstd, or the raw bytes when that does not shrink.

Reads move every stored byte through Milvus' gRPC path, so fewer bytes is faster. In a float tensor the
byte holding sign and exponent carries little information (~2.6 of 8 bits for random-normal bf16) while the
low mantissa bytes are noise; regrouping the bytes into planes (byte 0 of every element, then byte 1, ...)
lets zstd level 1 squeeze random-normal bf16 to ~70% of its size (~78% unsplit), and it decompresses at
~1 GB/s. Nothing here knows about Milvus.
"""

from __future__ import annotations

import numpy as np
import zstandard

CODEC_RAW = "raw"  # the little-endian tensor bytes as they are
CODEC_ZSTD_PLANES = "zstd-planes"  # byte planes, one zstd frame (content size in its header)
CODECS = (CODEC_RAW, CODEC_ZSTD_PLANES)
# Level 1: higher levels gain ~nothing on mantissa noise (level 3 was larger here) and write slower.
ZSTD_LEVEL = 1


class CodecError(ValueError):
    """Stored bytes that do not unpack to the expected size."""


def pack(raw: np.ndarray, itemsize: int) -> tuple[str, bytes]:
    """Pack a tensor's bytes for storage.

    Args:
        raw: the tensor's little-endian bytes, a contiguous uint8 array.
        itemsize: bytes per element (2 or 4).

    Returns:
        (codec, packed bytes): zstd-planes when it is smaller than the raw bytes, else raw.
    """
    planes = raw.reshape(-1, itemsize).T.copy()  # (itemsize, numel): byte k of every element
    packed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(planes.data)
    if len(packed) < raw.nbytes:
        return CODEC_ZSTD_PLANES, packed
    return CODEC_RAW, raw.tobytes()


def unpack(codec: str, packed: bytes, itemsize: int, size: int) -> np.ndarray:
    """Rebuild the raw bytes, never producing more than `size` of them.

    Args:
        codec: a CODECS value.
        packed: the stored bytes.
        itemsize: bytes per element (2 or 4).
        size: the expected raw size, from dtype and shape.

    Returns:
        A writable uint8 array of exactly `size` bytes.

    Raises:
        CodecError: unknown codec, a corrupt zstd frame, or any size other than `size`.
    """
    if codec == CODEC_RAW:
        if len(packed) != size:
            raise CodecError(f"{len(packed)} bytes stored, {size} expected")
        return np.frombuffer(bytearray(packed), dtype=np.uint8)  # bytearray: torch wants it writable
    if codec != CODEC_ZSTD_PLANES:
        raise CodecError(f"unknown codec {codec!r}")
    try:
        # The frame header names its content size and zstd allocates that much whatever max_output_size
        # says, so a corrupt header is refused here, before anything is allocated.
        declared = zstandard.frame_content_size(packed)
        if declared != size:
            raise CodecError(f"zstd frame declares {declared} bytes, {size} expected")
        flat = zstandard.ZstdDecompressor().decompress(packed, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise CodecError(f"not a valid zstd frame: {exc}") from exc
    if len(flat) != size:
        raise CodecError(f"zstd frame holds {len(flat)} bytes, {size} expected")
    planes = np.frombuffer(flat, dtype=np.uint8).reshape(itemsize, -1)  # (itemsize, numel)
    # Interleave with shifts on whole words: ~20x faster than a strided byte copy (planes.T) in numpy
    # or torch. Unsigned words keep the top byte's shift well defined.
    word = np.dtype(f"<u{itemsize}")
    out = planes[0].astype(word)
    for k in range(1, itemsize):
        out |= planes[k].astype(word) << (8 * k)
    return out.view(np.uint8)
