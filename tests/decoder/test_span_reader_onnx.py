"""The trained reader as an int8 ONNX graph: the same windows as the transformers path, the same answers,
and a folder the reader loads without torch."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from decoder.span_reader import SpanReader, encode_windows
from decoder.span_reader_onnx import Windows, export_int8
from decoder.span_reader_train import QaExample, TrainConfig, train_reader
from tests.decoder.test_span_reader import flag_example

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def float_reader(tiny_bert_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(0)
    out = tmp_path_factory.mktemp("onnx") / "reader"
    train_reader(tiny_bert_base, [flag_example(rng) for _ in range(256)], out, TrainConfig(epochs=3, lr=1e-3))
    return out


def test_the_tokenizers_windows_are_the_transformers_windows(float_reader: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(float_reader), local_files_only=True)
    long_page = " ".join(f"option{n} sets the flag_{n} (see --opt-{n})." for n in range(160))  # 4+ windows
    question = "Which option sets flag_42? " + "please " * 80  # clipped to 64 tokens
    texts = [long_page, "The flag was red."]
    ours = Windows(float_reader / "tokenizer.json")(question, texts)
    enc = encode_windows(tokenizer, [question] * 2, texts)
    assert len(ours) == len(enc["input_ids"]) >= 5
    for w, window in enumerate(ours):
        n = len(window.ids)
        assert window.ids == enc["input_ids"][w][:n].tolist()
        assert window.type_ids == enc["token_type_ids"][w][:n].tolist()
        assert window.owner == int(enc["overflow_to_sample_mapping"][w])
        offsets, sequence = enc["offset_mapping"][w][:n].tolist(), enc.sequence_ids(w)[:n]
        want = [tuple(o) if s == 1 else None for o, s in zip(offsets, sequence, strict=True)]
        assert window.offsets == want


def test_the_int8_reader_answers_as_the_float_one_and_loads_without_torch(
    float_reader: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reader-int8"
    meta = export_int8(float_reader, out)
    assert meta["runtime"] == "onnx-int8" and meta["int8_logit_correlation"] >= 0.98
    assert json.loads((out / "vtrag-reader.json").read_text()) == meta
    assert not (out / "model.safetensors").exists() and (out / "reader.int8.onnx").is_file()
    import onnx

    tables = [
        i for i in onnx.load(str(out / "reader.int8.onnx")).graph.initializer if "word_embeddings" in i.name
    ]
    assert [t.data_type for t in tables] == [onnx.TensorProto.FLOAT16]  # half the file's largest tensor
    rng = random.Random(5)
    examples = [flag_example(rng) for _ in range(20)]
    fp32, int8 = SpanReader(float_reader), SpanReader(out)
    assert int8.runtime == "onnx-int8"

    def answer(reader: SpanReader, ex: QaExample) -> str:
        (span,) = reader.read(ex.question, [ex.context])
        return ex.context[span.start : span.end] if span else ""

    got = [answer(int8, ex) for ex in examples]
    assert sum(a == ex.answer for a, ex in zip(got, examples, strict=True)) >= 18
    assert sum(a == answer(fp32, ex) for a, ex in zip(got, examples, strict=True)) >= 18
    code = (
        "import sys; from decoder.span_reader import SpanReader; "
        f"r = SpanReader({str(out)!r}); s, = r.read('What colour was the flag?', ['The flag was red.']); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.split() == ["False", "False"]
