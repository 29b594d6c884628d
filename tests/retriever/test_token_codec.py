"""Byte packing of token tensors: exact round trips, raw fallback, bounded unpacking (pure, no server)."""

from __future__ import annotations

import numpy as np
import pytest
import zstandard

from retriever.token_codec import CODEC_RAW, CODEC_ZSTD_PLANES, CodecError, pack, unpack


def _float_bytes(dtype: str, n: int) -> np.ndarray:
    values = np.random.default_rng(0).standard_normal(n).astype(dtype)
    return values.view(np.uint8)


@pytest.mark.parametrize("dtype", ["<f2", "<f4"])
@pytest.mark.parametrize("n", [0, 1, 7, 100_003])
def test_pack_unpack_round_trip(dtype: str, n: int) -> None:
    raw = _float_bytes(dtype, n)
    itemsize = np.dtype(dtype).itemsize
    codec, packed = pack(raw, itemsize)
    out = unpack(codec, packed, itemsize, raw.nbytes)
    assert out.dtype == np.uint8 and out.flags.writeable and np.array_equal(out, raw)


def test_floats_pack_as_zstd_planes_and_noise_stays_raw() -> None:
    codec, packed = pack(_float_bytes("<f2", 50_000), 2)
    assert codec == CODEC_ZSTD_PLANES and len(packed) < 100_000
    noise = np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8)
    codec, packed = pack(noise, 4)
    assert codec == CODEC_RAW and packed == noise.tobytes()


def test_unpack_never_returns_another_size() -> None:
    raw = _float_bytes("<f2", 1000)
    codec, packed = pack(raw, 2)
    with pytest.raises(CodecError, match="declares 2000 bytes, 1998 expected"):
        unpack(codec, packed, 2, 1998)
    with pytest.raises(CodecError, match="stored"):
        unpack(CODEC_RAW, raw.tobytes(), 2, 2002)
    # A frame without a content size in its header cannot be bounded up front, so it is refused.
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(raw.tobytes())
    with pytest.raises(CodecError, match="declares -1"):
        unpack(CODEC_ZSTD_PLANES, unsized, 2, 2000)


def test_unpack_refuses_garbage_and_unknown_codecs() -> None:
    with pytest.raises(CodecError, match="zstd"):
        unpack(CODEC_ZSTD_PLANES, b"\x28\xb5\x2f\xfd garbage", 2, 2)
    with pytest.raises(CodecError, match="unknown codec"):
        unpack("gzip", b"", 2, 0)
