"""The trained span reader as an int8 ONNX Runtime graph: exported once, then read with no torch at run time.

`export_int8(reader_dir, out)` traces a `vtrag reader train` folder's BERT + span head (eager attention and a
padded batch, so the masking path is in the graph), quantises its weight matmuls to int8 with the recipe of
the text embedder (encoder/text_onnx.py) except the feed-forward up-projections, stores the word-embedding
table in float16 (in float32 it was 47 of the graph's 59 MB), checks the graph's logits against the float
model on probe windows, and writes a reader folder holding the graph, the tokenizer and the metadata
(`runtime: onnx-int8`). `OnnxSpanModel` runs such a folder: `Windows` cuts (question, page) pairs into the
reader's windows with the `tokenizers` library (the windows `encode_windows` makes through transformers; a
test pins that they are the same), and one session call per batch gives start and end logits.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decoder.span_reader_format import (
    MAX_LENGTH,
    MAX_QUESTION_TOKENS,
    ONNX_GRAPH,
    READER_META,
    STRIDE,
)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
# The feed-forward up-projections stay float32: quantising their inputs (dynamic int8 activations) cost the
# shipped reader 0.8 F1 on SQuAD sample_1000 (59.5 all-int8, 60.3 with these float, 60.7 the float reader).
FLOAT_MATMULS = ("/intermediate/",)
MIN_LOGIT_CORRELATION = 0.98  # int8 logits against float ones on the probe windows, or the export fails


class ReaderExportError(RuntimeError):
    """The reader could not be traced or quantised, or the int8 graph disagrees with the float model."""


@dataclass(frozen=True)
class Window:
    """One (question, page slice) window: token ids, segment ids, which page, and the context tokens'
    character offsets into that page (None for question and special tokens)."""

    owner: int
    ids: list[int]
    type_ids: list[int]
    offsets: list[tuple[int, int] | None]


class Windows:
    """The reader's windows of (question, page) pairs, with the `tokenizers` library only.

    Args:
        tokenizer_file: the reader folder's tokenizer.json.
    """

    def __init__(self, tokenizer_file: Path) -> None:
        from tokenizers import Tokenizer

        self.plain = Tokenizer.from_file(str(tokenizer_file))
        self.plain.no_truncation()
        self.plain.no_padding()
        self.pairs = Tokenizer.from_file(str(tokenizer_file))
        self.pairs.no_padding()
        self.pairs.enable_truncation(MAX_LENGTH, stride=STRIDE, strategy="only_second")
        self.pad_id = self.plain.token_to_id("[PAD]") or 0

    def __call__(self, question: str, texts: Sequence[str]) -> list[Window]:
        """Every window of every text, in order (text by text, then along the text)."""
        q = self.clip(question)
        out = []
        for k, text in enumerate(texts):
            enc = self.pairs.encode(q, text)
            for w in [enc, *enc.overflowing]:
                offsets = [o if s == 1 else None for o, s in zip(w.offsets, w.sequence_ids, strict=True)]
                out.append(Window(k, list(w.ids), list(w.type_ids), offsets))
        return out

    def clip(self, question: str) -> str:
        """The question cut to MAX_QUESTION_TOKENS tokens (as `span_reader._clip` does)."""
        enc = self.plain.encode(question, add_special_tokens=False)
        if len(enc.ids) <= MAX_QUESTION_TOKENS:
            return question
        return question[: enc.offsets[MAX_QUESTION_TOKENS - 1][1]]

    def batch(self, windows: Sequence[Window]) -> dict[str, np.ndarray]:
        """Right-padded (B, T) int64 inputs of the graph."""
        width = max(len(w.ids) for w in windows)
        ids = np.full((len(windows), width), self.pad_id, dtype=np.int64)
        types = np.zeros((len(windows), width), dtype=np.int64)
        mask = np.zeros((len(windows), width), dtype=np.int64)
        for row, w in enumerate(windows):
            n = len(w.ids)
            ids[row, :n], types[row, :n], mask[row, :n] = w.ids, w.type_ids, 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


class OnnxSpanModel:
    """The int8 graph of a reader folder and its windows.

    Args:
        model_dir: a folder written by `export_int8` (reader.int8.onnx, tokenizer.json, vtrag-reader.json).
        threads: ONNX Runtime intra-op threads (0: its default, all cores).
    """

    def __init__(self, model_dir: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(Path(model_dir) / ONNX_GRAPH), options, providers=["CPUExecutionProvider"]
        )
        self.windows = Windows(Path(model_dir) / "tokenizer.json")

    def logits(self, windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
        """(B, T) start and end logits of a batch of windows (T: the longest window)."""
        start, end = self.session.run(["start_logits", "end_logits"], self.windows.batch(windows))
        return np.asarray(start, dtype=np.float32), np.asarray(end, dtype=np.float32)


def export_int8(reader_dir: Path, out: Path) -> dict[str, Any]:
    """Write an int8 ONNX reader folder `out` from the float reader folder `reader_dir`.

    Returns:
        The metadata written to `out/vtrag-reader.json`: the source reader's, plus runtime, source and the
        logit correlation measured on the probe windows.
    Raises:
        ReaderExportError: tracing or quantising failed, or the int8 logits correlate below
            MIN_LOGIT_CORRELATION with the float model's.
    """
    import torch
    from transformers import AutoModelForQuestionAnswering

    from encoder.text_onnx import OnnxExportError, quantise_matmuls

    reader_dir, out = Path(reader_dir), Path(out)
    meta = json.loads((reader_dir / READER_META).read_text())
    model = AutoModelForQuestionAnswering.from_pretrained(
        str(reader_dir), local_files_only=True, dtype=torch.float32, attn_implementation="eager"
    ).eval()

    class Logits(torch.nn.Module):
        """The reader as a graph: (ids, mask, segments) -> (start logits, end logits)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> tuple[Any, Any]:
            o = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return o.start_logits, o.end_logits

    windows = Windows(reader_dir / "tokenizer.json")
    probe = windows("Which option includes hidden files?", [_PROBE_PAGE, "The lamp was first lit in 1871."])
    inputs = windows.batch(probe)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        float_graph = tmp / "reader.float.onnx"
        tensors = tuple(
            torch.from_numpy(inputs[k]) for k in ("input_ids", "attention_mask", "token_type_ids")
        )
        try:
            with torch.inference_mode(False), torch.no_grad():
                torch.onnx.export(
                    Logits().eval(), tensors, str(float_graph),
                    input_names=["input_ids", "attention_mask", "token_type_ids"],
                    output_names=["start_logits", "end_logits"],
                    dynamic_axes={n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask",
                                  "token_type_ids", "start_logits", "end_logits")},
                    opset_version=17, dynamo=False,
                )  # fmt: skip
                reference = [t.numpy() for t in Logits().eval()(*tensors)]
            quantise_matmuls(float_graph, tmp / ONNX_GRAPH, keep_float=FLOAT_MATMULS)
            half_word_embeddings(tmp / ONNX_GRAPH)
        except (OnnxExportError, RuntimeError, ValueError) as exc:
            raise ReaderExportError(
                f"exporting the reader in {reader_dir} to int8 ONNX failed: {exc}"
            ) from exc
        float_graph.unlink()
        for name in TOKENIZER_FILES:
            if (reader_dir / name).is_file():
                shutil.copyfile(reader_dir / name, tmp / name)
        start, end = OnnxSpanModel(tmp).logits(probe)
        real = inputs["attention_mask"].astype(bool)
        got = np.concatenate([start[real], end[real]])
        want = np.concatenate([reference[0][real], reference[1][real]])
        corr = float(np.corrcoef(got, want)[0, 1])
        if not corr >= MIN_LOGIT_CORRELATION:
            raise ReaderExportError(f"the int8 reader's logits correlate {corr:.3f} with the float model's")
        meta.update(
            runtime="onnx-int8", source=str(reader_dir.resolve()), int8_logit_correlation=round(corr, 4)
        )
        (tmp / READER_META).write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.replace(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def half_word_embeddings(graph_path: Path) -> bool:
    """Store the graph's word-embedding table as float16 and cast the gathered rows back to float32.

    The table is most of the file (30,522 x 384), and a row rounded to float16 (11 significant bits) is
    nothing beside the int8 matmuls that read it. Returns whether a table was found.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(graph_path))
    tables = {i.name: i for i in model.graph.initializer if i.name.endswith("word_embeddings.weight")}
    nodes = list(model.graph.node)
    for at, node in enumerate(nodes):
        if node.op_type != "Gather" or node.input[0] not in tables:
            continue
        table = tables[node.input[0]]
        table.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), table.name))
        rows = node.output[0]
        node.output[0] = f"{rows}_float16"
        cast = helper.make_node(
            "Cast", [node.output[0]], [rows], to=TensorProto.FLOAT, name=f"{node.name}_cast"
        )
        model.graph.node.insert(at + 1, cast)  # right after the gather: the node list stays in order
        onnx.save(model, str(graph_path))
        return True
    return False


_PROBE_PAGE = (
    "dotglob\nIf set, Bash includes filenames beginning with a '.' in the results of filename expansion. "
    "The filenames '.' and '..' must always be matched explicitly, even if dotglob is set.\n"
    "execfail\nIf this is set, a non-interactive shell will not exit if it cannot execute the file."
)
