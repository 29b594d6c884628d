"""The vision profile's loaded parts: an encoder (pages -> stored rows) and a generator (stored rows -> text).

Built from settings by the service, or injected (tests, `vtrag model check`) from tiny random models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from decoder.generate import Generator
from decoder.tokenizer import Tokenizer

ENCODERS = ("deepseek-ocr", "deepseek-ocr-2")


@dataclass
class VisionRuntime:
    """One loaded DeepSeek-OCR model serving both halves of the vision profile.

    Attributes:
        name: "deepseek-ocr" (v1) or "deepseek-ocr-2".
        encoder: `encode(images, mode) -> list[EncodedPage]`, `dim` (pooled vector size), `row_count(w, h)`.
        generator: decodes stored rows with the n-gram guard.
        mode: the resolution mode the index is built in ("ocr2" for OCR-2's fixed layout).
        max_tiles: the tile cap of a tiled v1 mode (None for untiled modes and OCR-2).
    """

    name: str
    encoder: Any
    generator: Generator
    mode: str
    max_tiles: int | None = None

    @property
    def dim(self) -> int:
        return int(self.encoder.dim)

    def count_tokens(self, text: str) -> int:
        """Text tokens of `text` with the decoder's tokenizer (auto mode's compression ratio)."""
        return len(self.generator.tokenizer.encode(text))

    @classmethod
    def load(
        cls,
        name: str,
        weights_dir: Path | None,
        *,
        device: str = "auto",
        mode: str = "base",
        max_tiles: int | None = None,
    ) -> VisionRuntime:
        """Load real weights from a local directory (never downloaded).

        Raises:
            ValueError: unknown encoder name. WeightsNotFoundError: missing directory or files, with the way
            to get them. CheckpointError: the files do not match the model.
        """
        from encoder.loading import load_deepseek_ocr, load_deepseek_ocr2

        target = resolve_device(device)
        dtype = torch.bfloat16 if target.startswith("cuda") else torch.float32
        if name == "deepseek-ocr":
            model, tokenizer = load_deepseek_ocr(weights_dir, target, dtype)
            return cls._v1(model, Tokenizer(tokenizer), mode, max_tiles)
        if name == "deepseek-ocr-2":
            model, processor = load_deepseek_ocr2(weights_dir, target, dtype)
            return cls._ocr2(model, Tokenizer(processor.tokenizer), processor)
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")

    @classmethod
    def tiny(
        cls, name: str = "deepseek-ocr", *, mode: str = "base", seed: int = 0, max_tiles: int | None = None
    ) -> VisionRuntime:
        """Random tiny models from the real config classes: the whole vision path, runnable on a CPU."""
        from encoder.tiny import tiny_deepseek_ocr, tiny_deepseek_ocr2, tiny_tokenizer

        tokenizer = Tokenizer(tiny_tokenizer())
        if name == "deepseek-ocr":
            return cls._v1(tiny_deepseek_ocr(seed), tokenizer, mode, max_tiles)
        if name == "deepseek-ocr-2":
            return cls._ocr2(tiny_deepseek_ocr2(seed), tokenizer, None)
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")

    @classmethod
    def _v1(cls, model: Any, tokenizer: Tokenizer, mode: str, max_tiles: int | None) -> VisionRuntime:
        from encoder.modes import get_mode
        from encoder.vision import DeepseekOcrEncoder
        from indexer.auto_mode import AUTO

        if mode == AUTO:  # a mode per page: the encoder's own (queries, similar pages) stays Base
            tiles = get_mode("gundam", max_tiles).max_tiles
            encoder = DeepseekOcrEncoder(model, mode=get_mode("base"))
            return cls("deepseek-ocr", encoder, Generator(model, tokenizer), AUTO, tiles)
        view_mode = get_mode(mode, max_tiles)
        encoder = DeepseekOcrEncoder(model, mode=view_mode)
        cap = view_mode.max_tiles if view_mode.tiled else None
        return cls("deepseek-ocr", encoder, Generator(model, tokenizer), view_mode.name, cap)

    @classmethod
    def _ocr2(cls, model: Any, tokenizer: Tokenizer, processor: Any) -> VisionRuntime:
        # differs from v1: OCR-2 has one resolution policy (1024 global + 768 tiles), recorded as mode "ocr2"
        from encoder.vision import DeepseekOcr2Encoder

        processor_images = getattr(processor, "image_processor", None)
        encoder = DeepseekOcr2Encoder(model, image_processor=processor_images)
        return cls("deepseek-ocr-2", encoder, Generator(model, tokenizer), "ocr2")


def resolve_device(device: str) -> str:
    """'auto' picks CUDA when present; asking for CUDA without it is a clear error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device")
    return device
