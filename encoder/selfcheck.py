"""`vtrag model check`: prove the model code, key mapping and row layout work on this machine.

`run_selfcheck(tiny=True)` needs no weights: it builds tiny random v1 and OCR-2 models from the real config
classes, writes them in the official checkpoint layouts, loads them back through the production loaders and
compares logits, and checks the released models' token counts and key layout by shape arithmetic (meta
device).
With `weights_dir` / `ocr2_weights_dir` it also loads the real weights and encodes one synthetic page.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from encoder import modes
from encoder.checkpoint import (
    CHECKPOINT_FILE,
    CheckpointError,
    official_state_dict,
    write_synthetic_checkpoint,
)
from encoder.layout import merge_image_rows
from encoder.loading import load_deepseek_ocr, load_deepseek_ocr2
from encoder.pixels import v1_inputs
from encoder.vision import DeepseekOcr2Encoder, DeepseekOcrEncoder

RELEASED_V1_TENSORS = 2710  # deepseek-ai/DeepSeek-OCR safetensors: tensors and parameters
RELEASED_V1_PARAMS = 3_336_106_240


def _page(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for y in range(10, height - 10, 24):
        draw.rectangle((12, y, width - 12, y + 8), fill=(30, 30, 30))
    return image


def _prompt(n_rows: int, image_token_id: int) -> torch.Tensor:
    return torch.tensor([[0] + [image_token_id] * n_rows + [20, 21, 22]])


def _check_released_layout() -> str:
    from encoder.deepseek_ocr import DeepseekOcrForConditionalGeneration
    from encoder.deepseek_ocr_config import DeepseekOcrConfig

    config = DeepseekOcrConfig()
    for mode in modes.MODES:
        for size in ((1024, 1024), (1240, 1754), (1754, 1240), (600, 600), (3000, 700)):
            if config.token_rows(mode, *size) != modes.token_rows(mode, *size):
                raise AssertionError(f"{mode} {size}: model gives {config.token_rows(mode, *size)} rows")
    with torch.device("meta"):
        model = DeepseekOcrForConditionalGeneration(config)
    names = official_state_dict(model)
    params = sum(t.numel() for t in names.values())
    if (len(names), params) != (RELEASED_V1_TENSORS, RELEASED_V1_PARAMS):
        raise AssertionError(f"official layout has {len(names)} tensors / {params} params")
    rows = {m: modes.token_rows(m, 1240, 1754) for m in modes.MODES}
    return f"{len(names)} tensors, {params} params as released; rows for a 1240x1754 page: {rows}"


def _check_v1_roundtrip(workdir: Path) -> str:
    from encoder.tiny import tiny_deepseek_ocr, tiny_tokenizer

    model = tiny_deepseek_ocr(seed=0)
    written = write_synthetic_checkpoint(model, workdir)
    tiny_tokenizer().save_pretrained(str(workdir))
    loaded, tokenizer = load_deepseek_ocr(workdir, dtype=torch.float32)
    if tokenizer is None or loaded.config.image_token_id != model.config.image_token_id:
        raise AssertionError("tokenizer's <image> id does not match the config")
    page = modes.make_views(_page(900, 1300), "gundam")
    inputs = v1_inputs([page])
    with torch.inference_mode():
        rows = model.get_image_features(**inputs).pooler_output
        ids = _prompt(rows[0].shape[0], model.config.image_token_id)
        pixel = model(input_ids=ids, **inputs).logits
        again = loaded(input_ids=ids, **inputs).logits
        stored = loaded(inputs_embeds=merge_image_rows(loaded, ids, rows)).logits
    if not torch.equal(pixel, again):
        raise AssertionError("logits differ after the checkpoint round trip")
    if not torch.allclose(pixel, stored, atol=1e-5):
        raise AssertionError("stored-rows path and pixel path disagree")
    return f"{len(written)} official tensors written and reloaded; logits equal; stored rows == pixel path"


def _check_v1_tamper(workdir: Path) -> str:
    from safetensors.torch import load_file, save_file

    from encoder.tiny import tiny_deepseek_ocr

    write_synthetic_checkpoint(tiny_deepseek_ocr(), workdir)
    tensors = load_file(str(workdir / CHECKPOINT_FILE))
    tensors["model.sam_model.blocks.0.attn.qkv.weightX"] = tensors.pop(
        "model.sam_model.blocks.0.attn.qkv.weight"
    )
    save_file(tensors, str(workdir / CHECKPOINT_FILE))
    try:
        load_deepseek_ocr(workdir, dtype=torch.float32, tokenizer=False)
    except CheckpointError as err:
        if "model.sam_model.blocks.0.attn.qkv.weight" not in err.missing:
            raise AssertionError(f"error does not name the key: {err}") from None
        return "a renamed key is refused, naming it"
    raise AssertionError("a tampered checkpoint loaded")


def _check_v1_modes() -> str:
    from encoder.tiny import tiny_deepseek_ocr

    encoder = DeepseekOcrEncoder(tiny_deepseek_ocr(), batch_size=2)
    pages = [_page(200, 260), _page(1400, 700)]
    counts = {}
    for mode in modes.MODES:
        encoded = encoder.encode(pages, mode)
        got = [e.rows.shape[0] for e in encoded]
        want = [encoder.row_count(*p.size, mode=mode) for p in pages]
        if got != want:
            raise AssertionError(f"{mode}: rows {got}, expected {want}")
        counts[mode] = got
    return f"tiny v1 rows per mode for 200x260 and 1400x700 pages: {counts}"


def _check_ocr2(workdir: Path) -> str:
    from transformers.models.deepseek_ocr2 import DeepseekOcr2ImageProcessorPil

    from encoder.tiny import tiny_deepseek_ocr2, tiny_tokenizer

    model = tiny_deepseek_ocr2(seed=0)
    model.save_pretrained(str(workdir))
    DeepseekOcr2ImageProcessorPil().save_pretrained(str(workdir))
    tiny_tokenizer().save_pretrained(str(workdir))
    loaded, processor = load_deepseek_ocr2(workdir, dtype=torch.float32)
    encoder = DeepseekOcr2Encoder(loaded, processor.image_processor)
    pages = [_page(500, 400), _page(1600, 800)]
    encoded = encoder.encode(pages)
    got = [e.rows.shape[0] for e in encoded]
    want = [encoder.row_count(*p.size) for p in pages]
    if got != want:
        raise AssertionError(f"OCR-2 rows {got}, expected {want}")
    ids = _prompt(got[0], model.config.image_token_id)
    inputs = processor.image_processor(images=[pages[0]], return_tensors="pt")
    with torch.inference_mode():
        pixel = model(input_ids=ids, pixel_values=inputs["pixel_values"]).logits
        stored = loaded(inputs_embeds=merge_image_rows(loaded, ids, [encoded[0].rows])).logits
    if not torch.allclose(pixel, stored, atol=1e-5):
        raise AssertionError("OCR-2 stored rows do not reproduce the pixel-path logits after reload")
    return f"native OCR-2 saved, reloaded, rows {got} as expected, stored rows == pixel path"


def _check_real_v1(weights_dir: str | Path | None, device: str) -> str:
    model, _ = load_deepseek_ocr(weights_dir, device=device)
    encoded = DeepseekOcrEncoder(model, "base").encode([_page(1240, 1754)])[0]
    if encoded.rows.shape != (273, 1280) or not torch.isfinite(encoded.rows.float()).all():
        raise AssertionError(f"real v1 rows {tuple(encoded.rows.shape)}")
    return "real DeepSeek-OCR loaded; a Base page gives 273 finite rows of 1280"


def _check_real_ocr2(weights_dir: str | Path | None, device: str) -> str:
    model, processor = load_deepseek_ocr2(weights_dir, device=device)
    encoder = DeepseekOcr2Encoder(model, processor.image_processor)
    encoded = encoder.encode([_page(1240, 1754)])[0]
    if encoded.rows.shape[0] != encoder.row_count(1240, 1754):
        raise AssertionError(f"real OCR-2 rows {encoded.rows.shape[0]}")
    return f"real DeepSeek-OCR-2 loaded; a 1240x1754 page gives {encoded.rows.shape[0]} rows"


def run_selfcheck(
    tiny: bool = True,
    weights_dir: str | Path | None = None,
    ocr2_weights_dir: str | Path | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Run the checks; never raises for a failed check (it is reported).

    Returns:
        {"ok": bool, "tiny": bool, "versions": {...}, "checks": [{"name", "ok", "detail", "seconds"}]}
        (JSON-serialisable). With tiny=False and no weights directory, the "v1.weights" check fails with
        the message saying how to get the weights.
    """
    import transformers

    checks: list[tuple[str, Callable[[], str]]] = [("v1.released_layout", _check_released_layout)]
    with tempfile.TemporaryDirectory(prefix="vtrag-selfcheck-") as tmp:
        root = Path(tmp)
        if tiny:
            checks += [
                ("v1.modes", _check_v1_modes),
                ("v1.checkpoint_roundtrip", lambda: _check_v1_roundtrip(root / "v1")),
                ("v1.tampered_checkpoint", lambda: _check_v1_tamper(root / "v1-bad")),
                ("ocr2.native_roundtrip", lambda: _check_ocr2(root / "ocr2")),
            ]
        if weights_dir is not None or (not tiny and ocr2_weights_dir is None):
            checks.append(("v1.weights", lambda: _check_real_v1(weights_dir, device)))  # None: says how
        if ocr2_weights_dir is not None:
            checks.append(("ocr2.weights", lambda: _check_real_ocr2(ocr2_weights_dir, device)))
        results = []
        for name, check in checks:
            start = time.perf_counter()
            try:
                detail, ok = check(), True
            except Exception as err:  # a self-check reports every failure instead of stopping
                detail, ok = f"{type(err).__name__}: {err}", False
                if not isinstance(err, (AssertionError, CheckpointError, FileNotFoundError)):
                    detail += "\n" + traceback.format_exc(limit=3)
            results.append(
                {"name": name, "ok": ok, "detail": detail, "seconds": round(time.perf_counter() - start, 3)}
            )
    return {
        "ok": all(r["ok"] for r in results),
        "tiny": tiny,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "checks": results,
    }
