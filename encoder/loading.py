"""Both backends loaded from a local weights folder: v1 through our classes and the checkpoint tables, OCR-2
through transformers' native classes. Nothing is downloaded; a missing folder says how to get the weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from encoder.checkpoint import (
    FP32_TENSORS,
    OCR2_SOURCE,
    V1_SOURCE,
    CheckpointError,
    WeightsNotFoundError,
    check_weights_dir,
    keep_fp32_tensors,
    load_official_checkpoint,
)


def _tokenizer(directory: Path):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # AutoTokenizer peeks at config.json, warns about model_type deepseek_vl_v2
    try:
        return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError, KeyError):
        # The released tokenizer_config may name no class and config.json's model_type (deepseek_vl_v2) is
        # unknown to AutoConfig: read tokenizer.json directly.
        if not (directory / "tokenizer.json").is_file():
            raise WeightsNotFoundError(directory, V1_SOURCE, f"{directory} has no tokenizer files") from None
        return PreTrainedTokenizerFast.from_pretrained(str(directory), local_files_only=True)
    finally:
        logging.set_verbosity(verbosity)


def load_deepseek_ocr(
    directory: str | Path | None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    *,
    tokenizer: bool = True,
):
    """DeepSeek-OCR v1 from a local copy of deepseek-ai/DeepSeek-OCR.

    Args:
        directory: folder with config.json, *.safetensors and the tokenizer files.
        device, dtype: where the model lives; tensors are cast while loading.
        tokenizer: also load the tokenizer (its `<image>` id becomes `config.image_token_id`).
    Returns:
        (DeepseekOcrForConditionalGeneration in eval mode, tokenizer or None). Every tensor is in `dtype`
        except FP32_TENSORS (the MoE routers' `mlp.gate.weight`), which stay float32 as upstream keeps them.
    Raises:
        WeightsNotFoundError: the directory or its files are missing. CheckpointError: names/shapes disagree.
    """
    from transformers.initialization import no_init_weights

    from encoder.deepseek_ocr import DeepseekOcrForConditionalGeneration
    from encoder.deepseek_ocr_config import DeepseekOcrConfig

    path = check_weights_dir(directory, V1_SOURCE)
    config = DeepseekOcrConfig.from_official(json.loads((path / "config.json").read_text()))
    tok = _tokenizer(path) if tokenizer else None
    if tok is not None:
        image_id = tok.convert_tokens_to_ids("<image>")
        if image_id is None or image_id == tok.unk_token_id:
            raise CheckpointError(str(path), ["tokenizer token <image>"], [], [])
        config.image_token_id = int(image_id)
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(dtype)
        with torch.device(device), no_init_weights():  # every tensor is overwritten by the checkpoint
            model = DeepseekOcrForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    keep_fp32_tensors(model)
    load_official_checkpoint(model, path)
    return model.eval(), tok


def load_deepseek_ocr2(
    directory: str | Path | None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    *,
    processor: bool = True,
):
    """DeepSeek-OCR-2 through transformers' native classes, from a local deepseek-community/DeepSeek-OCR-2.

    Returns:
        (DeepseekOcr2ForConditionalGeneration in eval mode, DeepseekOcr2Processor or None). Every tensor is
        in `dtype` except FP32_TENSORS (the MoE routers), float32 on every transformers version.
    Raises:
        WeightsNotFoundError: missing directory/files. CheckpointError: transformers reported missing,
        unexpected or mis-shaped weights (it would otherwise initialise them at random).
    """
    from transformers import AutoTokenizer
    from transformers.models.deepseek_ocr2 import (
        DeepseekOcr2ForConditionalGeneration,
        DeepseekOcr2ImageProcessorPil,
        DeepseekOcr2Processor,
    )

    class Ocr2WithFp32Router(DeepseekOcr2ForConditionalGeneration):
        """Differs from DeepseekOcr2ForConditionalGeneration of transformers < 5.24 only in keeping the
        router float32 under a half-precision load, as 5.24+ does."""

        _keep_in_fp32_modules_strict = list(FP32_TENSORS)

    path = check_weights_dir(directory, OCR2_SOURCE)
    loaded: Any = Ocr2WithFp32Router.from_pretrained(
        str(path), dtype=dtype, local_files_only=True, output_loading_info=True
    )
    model, info = loaded
    mismatched = [
        (str(m[0]), tuple(m[1]), tuple(m[2])) if isinstance(m, tuple) and len(m) == 3 else (str(m), (), ())
        for m in info.get("mismatched_keys", [])
    ]
    if info.get("missing_keys") or info.get("unexpected_keys") or mismatched:
        raise CheckpointError(
            str(path),
            sorted(info.get("missing_keys", [])),
            sorted(info.get("unexpected_keys", [])),
            mismatched,
        )
    proc = None
    if processor:
        # The PIL image processor exists in every supported transformers and needs no torchvision.
        proc = DeepseekOcr2Processor(
            image_processor=DeepseekOcr2ImageProcessorPil.from_pretrained(str(path), local_files_only=True),
            tokenizer=AutoTokenizer.from_pretrained(str(path), local_files_only=True),
        )
    return model.to(device).eval(), proc
