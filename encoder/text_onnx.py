"""all-MiniLM-L6-v2 as an int8 ONNX Runtime graph: the lite profile's CPU embedding path.

Why: embedding is nearly all of a text-layer build, and fp32 MiniLM is bound by matrix multiplies: ~10 GFLOP
for a 400-word page against ~90 GFLOP/s that a 2-core AVX2 machine sustains, so fp32 cannot pass ~9 pages/s
however it is run. Dynamic int8 quantisation of the weight matrices (per output channel; activations
quantised per call) roughly doubles the throughput. Cosine to the fp32 vectors: ~0.99 on pages; retrieval
impact measured in docs/BENCHMARKS.md.

The graph is derived once from the local model folder — traced with torch (eager attention, so the padding
mask stays in the graph), quantised with onnxruntime's quantiser — checked against the torch model on probe
texts, and cached under the cache dir keyed by the weights' sha256. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encoder.quiet import quiet_loading

# Bump when the export recipe changes, so stale cached graphs are not reused.
RECIPE = "int8-v1"
# The quantised vectors must stay this close (cosine) to the fp32 ones on every probe text.
MIN_PROBE_COSINE = 0.95
PROBE_TEXTS = (
    "The lighthouse was built in 1871 and automated in 1952.",
    "Quarterly revenue rose 4% on higher freight tonnage through the harbour.",
    "What is the capital of France?",
    "",
)


class OnnxExportError(RuntimeError):
    """The int8 graph could not be built or failed its check against the torch model."""


def default_cache_dir() -> Path:
    """$VTRAG_CACHE_DIR, else $XDG_CACHE_HOME/vtrag, else ~/.cache/vtrag."""
    explicit = os.environ.get("VTRAG_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vtrag"


def int8_session(model_dir: Path, cache_dir: Path | None = None) -> Any:
    """An ONNX Runtime session on the int8 graph of `model_dir`; a cached graph that no longer loads
    (truncated, disk trouble) is rebuilt once.

    Raises:
        OnnxExportError: the graph could not be built (see `int8_graph`).
    """
    graph = int8_graph(model_dir, cache_dir)
    try:
        return open_session(graph)
    except Exception:  # onnxruntime raises its own exception types for a bad file
        graph.unlink(missing_ok=True)
        return open_session(int8_graph(model_dir, cache_dir))


def int8_graph(model_dir: Path, cache_dir: Path | None = None) -> Path:
    """The cached int8 graph of the model in `model_dir`, built (and checked) on first use.

    Args:
        model_dir: the MiniLM folder (model.safetensors, config.json, tokenizer files).
        cache_dir: where graphs are kept (None: `default_cache_dir()`).

    Returns:
        Path of the .onnx file.

    Raises:
        OnnxExportError: tracing, quantising or the probe check failed.
    """
    cache = (cache_dir or default_cache_dir()) / "models"
    digest = _weights_digest(model_dir, cache)
    target = cache / f"minilm-{digest[:16]}-{RECIPE}.onnx"
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: a concurrent builder or a crash never leaves a half-written graph.
    with quiet_loading(), tempfile.TemporaryDirectory(dir=cache, prefix=".export-") as tmp:
        fp32, int8 = Path(tmp, "fp32.onnx"), Path(tmp, "int8.onnx")
        model = _load_eager(model_dir)
        _export(model, fp32)
        quantise_matmuls(fp32, int8)
        _check(model, model_dir, int8)
        os.replace(int8, target)
    return target


def open_session(graph: Path) -> Any:
    """An ONNX Runtime CPU session over `graph` (inputs "input_ids", "attention_mask"; output "vectors")."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # no per-run warnings on stderr
    # Idle pool threads sleep instead of spinning: spinning kept both cores of a 2-core machine busy for
    # milliseconds after each query embedding, starving the Milvus process that serves the search next.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def pad_batch(batch: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Token id lists as a right-padded (B, T) int64 id matrix and its attention mask (1 = real token)."""
    width = max(len(ids) for ids in batch)
    input_ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
    return input_ids, mask


def run_session(session: Any, batch: list[list[int]], pad_id: int) -> np.ndarray:
    """Mean-pooled, L2-normalised vectors of a batch of token id lists: (len(batch), dim) float32."""
    input_ids, mask = pad_batch(batch, pad_id)
    (vectors,) = session.run(["vectors"], {"input_ids": input_ids, "attention_mask": mask})
    return np.asarray(vectors, dtype=np.float32)


def _weights_digest(model_dir: Path, cache: Path) -> str:
    """sha256 of the weights file, remembered per (path, size, mtime) in `cache`: hashing 90 MB on every
    process start cost ~0.2 s of each CLI search."""
    weights = (model_dir / "model.safetensors").resolve()
    stat = weights.stat()
    memo = cache / f"digest-{hashlib.sha256(str(weights).encode()).hexdigest()[:16]}.json"
    stamp = [stat.st_size, stat.st_mtime_ns]
    try:
        known = json.loads(memo.read_text())
        if known["stamp"] == stamp and len(known["sha256"]) == 64:
            return str(known["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    h = hashlib.sha256()
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"stamp": stamp, "sha256": digest}))
        os.replace(tmp, memo)
    except OSError:
        pass  # a read-only cache only costs the hash next time
    return digest


def _load_eager(model_dir: Path) -> Any:
    from transformers import AutoModel

    # Eager attention: SDPA's mask helper drops the mask when the tracing batch has no padding.
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager")
    return model.eval()


def pooled_module(model: Any) -> Any:
    """`model` + mean pooling over real tokens + L2 normalisation, as one module: what the graph is traced
    from, and what the torch backend runs, so both pool the same way."""
    import torch

    class Pooled(torch.nn.Module):
        """Encoder + mean pooling over real tokens + L2 normalisation."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    # eval(): a fresh Module starts in training mode, and the exporter restores that mode afterwards — on
    # the wrapped model too, which would switch dropout on.
    return Pooled().eval()


def _export(model: Any, path: Path) -> None:
    import torch

    # A padded example batch, so the traced graph carries the masking path.
    ids = torch.randint(1000, 2000, (2, 16))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                pooled_module(model),
                (ids, mask),
                str(path),
                input_names=["input_ids", "attention_mask"],
                output_names=["vectors"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask")},
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many kinds; all mean the same to the caller
        raise OnnxExportError(f"tracing all-MiniLM-L6-v2 to ONNX failed: {exc}") from exc


def quantise_matmuls(src: Path, dst: Path, keep_float: Sequence[str] = ()) -> None:
    """Quantise the weight matmuls of the graph `src` to int8 (per channel) into `dst`, but those whose node
    name contains one of `keep_float`. Also what the trained span reader's int8 graph is made with
    (decoder/span_reader_onnx.py)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False)
    weights = {init.name for init in graph.graph.initializer}
    # Only weight matmuls: quantising the attention products (activation x activation) costs accuracy.
    nodes = [
        n.name
        for n in graph.graph.node
        if n.op_type == "MatMul"
        and any(i in weights for i in n.input)
        and not any(k in n.name for k in keep_float)
    ]
    # The quantiser logs "consider pre-processing" advice on the root logger: quiet it for this call only,
    # as leaving the root at ERROR would silence every warning of the process after the first build.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, nodes_to_quantize=nodes
        )
    except Exception as exc:
        raise OnnxExportError(f"quantising {src.name} failed: {exc}") from exc
    finally:
        root.setLevel(level)


def _check(model: Any, model_dir: Path, graph: Path) -> None:
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    batch = [tokenizer(t)["input_ids"] for t in PROBE_TEXTS]
    got = run_session(open_session(graph), batch, int(tokenizer.pad_token_id))
    with torch.no_grad():
        ids, mask = pad_batch(batch, int(tokenizer.pad_token_id))
        ref = pooled_module(model)(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    cosines = (got * ref).sum(axis=1)
    if not np.all(cosines >= MIN_PROBE_COSINE):
        raise OnnxExportError(
            f"the int8 graph drifted from the fp32 model (probe cosines {np.round(cosines, 3).tolist()})"
        )
