"""Lossy token codecs (int8, fp8-e4m3): round trips within their stated error bounds, bad input refused,
and an index that records its codec (pure functions first, then Milvus Lite)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pybase64
import pytest
import torch

from retriever.errors import IndexConfigMismatchError, TokenIntegrityError
from retriever.records import IndexConfig
from retriever.store import IndexStore
from retriever.token_quant import FP8_E4M3, INT8, dequantize, payload_size, quantize
from retriever.tokens import decode_tensor, encode_tensor
from tests.retriever.helpers import CONFIG, make_doc, make_page

BF16_HALF_ULP = 2.0**-8  # the cast of a dequantized value back to bf16: half an ulp, relative


def rows(shape: tuple[int, ...], dtype: torch.dtype = torch.bfloat16, seed: int = 0) -> torch.Tensor:
    """Projector-like rows: normal values whose scale differs by row (so per-row scales matter)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen)
    if x.dim() >= 2:
        x = x * torch.logspace(-3, 2, x.shape[-2]).unsqueeze(-1)
    return x.to(dtype)


def bound(codec: str, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """The documented per-element error bound (retriever/token_quant.py), plus the final bf16 rounding."""
    xf = x.float().reshape(-1, x.shape[-1]) if x.dim() else x.float().reshape(1, 1)
    absmax = xf.abs().amax(dim=1, keepdim=True)
    b = absmax / 254 if codec == INT8 else xf.abs() * 2.0**-4 + (absmax / 448) * 2.0**-10
    info = torch.finfo(x.dtype)  # the cast back: half an ulp, relative, or a subnormal step near zero
    cast = x_hat.float().reshape(xf.shape).abs() * BF16_HALF_ULP + info.eps * info.smallest_normal
    return (b * (1 + 1e-6) + cast).reshape(x.shape)


@pytest.mark.parametrize("codec", [INT8, FP8_E4M3])
@pytest.mark.parametrize("shape", [(273, 1280), (3, 7, 5), (13,), (0, 1280), (4, 0), ()])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_round_trip_is_within_the_stated_bound(
    codec: str, shape: tuple[int, ...], dtype: torch.dtype
) -> None:
    x = rows(shape, dtype)
    payload = quantize(x, codec)
    assert payload.dtype == np.uint8 and payload.nbytes == payload_size(codec, shape)
    x_hat = dequantize(payload, codec, shape, dtype)
    assert x_hat.shape == x.shape and x_hat.dtype == dtype
    if x.numel():  # fp16/fp32 round the result more finely than bf16: the same bound holds for all three
        assert bool(((x.float() - x_hat.float()).abs() <= bound(codec, x, x_hat)).all())


@pytest.mark.parametrize("codec", [INT8, FP8_E4M3])
def test_zero_rows_and_row_maxima(codec: str) -> None:
    x = torch.zeros(3, 8)
    x[1] = torch.linspace(-5, 5, 8)
    x_hat = dequantize(quantize(x, codec), codec, x.shape, torch.float32)
    assert torch.equal(x_hat[0], x[0]) and torch.equal(x_hat[2], x[2])
    # The row's extreme value is exactly representable (it defines the scale).
    assert torch.allclose(x_hat[1, [0, -1]], x[1, [0, -1]], rtol=1e-6)


@pytest.mark.parametrize("codec", [INT8, FP8_E4M3])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_values_are_refused(codec: str, bad: float) -> None:
    x = rows((4, 16))
    x[2, 3] = bad
    with pytest.raises(ValueError, match="NaN or inf.*lossless"):
        quantize(x, codec)
    with pytest.raises(ValueError, match="page d:1"):
        encode_tensor("d:1", x, codec)


def test_unknown_codec_names_are_clear_errors() -> None:
    choices = "choose one of lossless, int8, fp8-e4m3"
    with pytest.raises(ValueError, match=f"unknown token codec 'int4'; {choices}"):
        encode_tensor("d:1", rows((2, 4)), "int4")
    with pytest.raises(ValueError, match="unknown token codec 'int4'"):
        IndexConfig(text_model="m", text_dim=4, mode="base", token_codec="int4")


@pytest.mark.parametrize("codec", [INT8, FP8_E4M3])
def test_blob_round_trip_and_integrity(codec: str) -> None:
    x = rows((273, 1280))
    blob = encode_tensor("d:1", x, codec)
    assert blob.codec.startswith(f"{codec}+") and blob.raw_bytes == 273 * 4 + 273 * 1280
    out = decode_tensor(blob.page_id, blob.dtype, blob.shape, blob.sha256, blob.codec, blob.chunks)
    assert torch.equal(out, dequantize(quantize(x, codec), codec, x.shape, torch.bfloat16))
    packed = bytearray(pybase64.b64decode("".join(blob.chunks)))
    packed[len(packed) // 2] ^= 0xFF
    damaged = [pybase64.b64encode_as_string(bytes(packed))]
    with pytest.raises(TokenIntegrityError):
        decode_tensor(blob.page_id, blob.dtype, blob.shape, blob.sha256, blob.codec, damaged)
    with pytest.raises(TokenIntegrityError, match="unknown token codec 'int3'"):
        decode_tensor(blob.page_id, blob.dtype, blob.shape, blob.sha256, "int3+raw", blob.chunks)


def test_config_json_stays_readable_both_ways() -> None:
    old = IndexConfig(text_model="m", text_dim=4, mode="base")
    assert "token_codec" not in old.to_json()  # a lossless index reads as before codecs existed
    assert IndexConfig.from_json(old.to_json()).token_codec == "lossless"
    q = IndexConfig(text_model="m", text_dim=4, mode="base", token_codec=FP8_E4M3)
    assert IndexConfig.from_json(q.to_json()) == q and q.to_dict()["token_codec"] == FP8_E4M3
    assert "token_codec=fp8-e4m3" in str(q)


@pytest.mark.parametrize("codec", [INT8, FP8_E4M3])
def test_an_index_stores_rows_in_its_codec_and_refuses_another(tmp_path: Path, codec: str) -> None:
    db = tmp_path / "vtrag.db"
    config = IndexConfig(
        text_model=CONFIG.text_model, text_dim=CONFIG.text_dim, mode="base", token_codec=codec
    )
    x = rows((273, 1280))
    with IndexStore.open(db, config) as store:
        bad = x.clone()
        bad[0, 0] = float("nan")
        with pytest.raises(ValueError, match="NaN or inf"):
            store.write_pages([make_page("bad", 1, "x")], {1: bad})
        assert store.audit()["page_rows"] == 0 and store.audit()["token_rows"] == 0  # nothing stored
        store.begin_doc(make_doc("a"))
        store.write_pages([make_page("a", 1, "hello")], {1: x})
        store.complete_doc("a")
        got = store.get_tokens(["a:1"])["a:1"]
        assert bool(((x.float() - got.float()).abs() <= bound(codec, x, got)).all())
        assert store.stats()["bytes"]["tokens"] == payload_size(codec, x.shape)
    with pytest.raises(IndexConfigMismatchError, match=codec):
        IndexStore.open(db, CONFIG)
    with IndexStore.open(db) as store:
        assert store.config.token_codec == codec


def test_status_accounts_pages_and_bytes_by_mode_codec_and_text_source(tmp_path: Path) -> None:
    config = IndexConfig(
        text_model=CONFIG.text_model, text_dim=CONFIG.text_dim, mode="base", token_codec=INT8
    )
    with IndexStore.open(tmp_path / "vtrag.db", config) as store:
        store.begin_doc(make_doc("a", pages=3))
        small = replace(make_page("a", 2, "two"), mode="small", n_tokens=111)
        scanned = make_page("a", 3, "three", text_source="ocr")
        store.write_pages([make_page("a", 1, "one"), small], {1: rows((273, 64)), 2: rows((111, 64))})
        store.write_pages([scanned])  # no token rows
        store.complete_doc("a")
        stats = store.stats()
    int8 = {1: 273 * (4 + 64), 2: 111 * (4 + 64)}
    assert {m: g["pages"] for m, g in stats["by_mode"].items()} == {"base": 2, "small": 1}
    assert stats["by_mode"]["small"]["token_bytes"] == int8[2]
    assert stats["by_codec"]["int8"]["pages"] == 2 and stats["by_codec"]["int8"]["token_bytes"] == sum(
        int8.values()
    )
    assert stats["by_codec"]["none"] == {
        "pages": 1, "text_bytes": 5, "token_bytes": 0, "bytes_per_million_pages": 5_000_000
    }  # fmt: skip
    assert {s: g["pages"] for s, g in stats["by_text_source"].items()} == {"pdf": 2, "ocr": 1}
    total = sum(int8.values()) + len("one") + len("two") + len("three")
    assert stats["projected_bytes_per_million_pages"]["total"] == round(total * 1_000_000 / 3)
