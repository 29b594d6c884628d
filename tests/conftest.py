"""Shared fixtures: real documents made on the fly, and the real `vtrag` CLI run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pymupdf
import pytest

from decoder.span_reader_format import SHIPPED_READER, shipped_reader_dir

# Who answers extractively when nothing is configured: the shipped trained reader when the package has one
# (docs/READER.md), else the rule-based reader.
DEFAULT_READER = SHIPPED_READER.name if shipped_reader_dir() else "rules"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A born-digital PDF with one text block per page (PyMuPDF's built-in Helvetica)."""
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(56, 56, 539, 786), text, fontsize=11, fontname="helv")
    doc.save(path)
    doc.close()
    return path


def make_scanned_pdf(path: Path, text: str) -> Path:
    """An image-only PDF: the page is rendered to pixels and only the picture goes into the file."""
    src = pymupdf.open()
    page = src.new_page(width=595, height=842)
    page.insert_textbox(pymupdf.Rect(56, 56, 539, 786), text, fontsize=16, fontname="helv")
    pix = page.get_pixmap(dpi=144)
    out = pymupdf.open()
    scanned = out.new_page(width=595, height=842)
    scanned.insert_image(scanned.rect, stream=pix.tobytes("png"))
    out.save(path)
    return path


def cli_command(*args: str) -> list[str]:
    """The argv of `vtrag ARGS...` run by this interpreter (the checkout's code, no installed script)."""
    return [sys.executable, "-m", "api.cli", *args]


def run_cli(
    *args: str, check: bool = False, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `vtrag ARGS...` in a fresh process, as a user would (extra `env` on top of this one's)."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    proc = subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[1],
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"vtrag {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def cli_json(*args: str, env: dict[str, str] | None = None) -> dict:
    proc = run_cli(*args, "--json", check=True, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Three small documents about distinct topics, plus a scanned page."""
    root = tmp_path / "docs"
    root.mkdir()
    make_pdf(
        root / "lighthouse.pdf",
        [
            "The Harbour Lighthouse was built in 1871 on the northern breakwater. Its keeper, Thomas Rowe, "
            "kept the lamp burning through the great storm of 1893, when waves broke over the gallery.",
            "In 1921 the oil lamp was replaced by an electric light visible for twenty nautical miles.",
        ],
    )
    make_pdf(
        root / "bread.pdf",
        [
            "To bake a rye loaf, mix sourdough starter with dark rye flour, water and caraway seeds. "
            "Let the dough rise for twelve hours before baking at two hundred and thirty degrees.",
        ],
    )
    make_pdf(
        root / "printing.pdf",
        [
            "Johannes Gutenberg introduced movable metal type in Mainz around 1450, and the printing press "
            "spread across Europe within fifty years.",
        ],
    )
    return root


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DeepSeek-OCR v1 weights folder in the official layout (config.json, safetensors, tokenizer),
    holding a tiny random model: what `--weights` points at, without downloading anything."""
    from encoder.checkpoint import write_synthetic_checkpoint
    from encoder.tiny import tiny_deepseek_ocr, tiny_tokenizer

    folder = tmp_path_factory.mktemp("tiny-deepseek-ocr")
    write_synthetic_checkpoint(tiny_deepseek_ocr(seed=0), folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT with the bundled MiniLM tokenizer: a base model for `vtrag reader train` tests."""
    import shutil

    from transformers import BertConfig, BertModel

    from encoder.text_embedder import bundled_model_dir

    folder = tmp_path_factory.mktemp("tiny-bert")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(bundled_model_dir() / name, folder / name)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=512,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder
