"""The trained span reader: span decoding, window labels, training that learns, and the folder contract."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from decoder.span_reader import MAX_ANSWER_TOKENS, ReaderError, SpanReader, best_span, encode_windows
from decoder.span_reader_train import QaExample, TrainConfig, features, locate_answer, train_reader
from encoder.text_embedder import bundled_model_dir
from retriever.records import PageRecord, SearchHit, TextLine

COLOURS = ["red", "green", "blue", "amber", "violet", "silver", "golden", "crimson", "ivory", "olive"]
FILLER = ["the", "ship", "left", "harbour", "at", "dawn", "with", "cargo", "of", "grain", "and", "timber"]


def flag_example(rng: random.Random) -> QaExample:
    """'What colour was the flag?' over filler text of varying length: the answer moves around."""
    colour = rng.choice(COLOURS)
    before = " ".join(rng.choices(FILLER, k=rng.randint(3, 30)))
    after = " ".join(rng.choices(FILLER, k=rng.randint(3, 30)))
    context = f"{before}. The flag was {colour}. {after}."
    return QaExample("What colour was the flag?", context, colour, context.index(f"was {colour}") + 4)


def test_best_span_takes_the_highest_start_plus_end_inside_the_context() -> None:
    start = torch.tensor([9.0, 0.0, 3.0, 1.0, 0.0, 0.0])
    end = torch.tensor([9.0, 0.0, 0.0, 2.0, 5.0, 0.0])
    context = torch.tensor([False, True, True, True, True, False])  # [CLS] and the last token are not text
    span = best_span(start, end, context)
    assert span is not None and (span.start, span.end) == (2, 4)
    assert span.score == pytest.approx(8.0 - 18.0)  # relative to [CLS] as start and end: "no answer here"
    # probability: softmax over the context positions only
    p_start = torch.softmax(torch.tensor([0.0, 3.0, 1.0, 0.0]), 0)[1]
    p_end = torch.softmax(torch.tensor([0.0, 0.0, 2.0, 5.0]), 0)[3]
    assert span.probability == pytest.approx(float(p_start * p_end), rel=1e-5)


def test_best_span_never_ends_before_it_starts_nor_runs_too_long() -> None:
    n = MAX_ANSWER_TOKENS + 10
    start, end = torch.zeros(n), torch.zeros(n)
    start[5], end[2] = 10.0, 10.0  # end before start: not allowed
    end[5 + MAX_ANSWER_TOKENS] = 9.0  # one token too far
    end[5 + MAX_ANSWER_TOKENS - 1] = 1.0
    span = best_span(start, end, torch.ones(n, dtype=torch.bool))
    assert span is not None and (span.start, span.end) == (5, 5 + MAX_ANSWER_TOKENS - 1)
    assert best_span(start, end, torch.zeros(n, dtype=torch.bool)) is None


def test_locate_answer_exact_then_case_insensitive() -> None:
    assert locate_answer("Built in 1871 by Rowe.", "1871") == 9
    assert locate_answer("THE HARBOUR light", "harbour") == 4
    assert locate_answer("nothing here", "1871") == -1


def test_windows_that_hold_the_answer_point_at_it_and_the_others_at_cls() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_dir()), local_files_only=True)
    filler = " ".join(["harbour lights and tides"] * 150)  # ~600 tokens: several windows
    context = f"{filler} The lamp was first lit in 1871 by the keeper. {filler}"
    example = QaExample("When was the lamp first lit?", context, "1871", context.index("1871"))
    data = features(tokenizer, [example])
    enc = encode_windows(tokenizer, [example.question], [context])
    assert data["input_ids"].shape[0] >= 3
    labelled = 0
    for w in range(data["input_ids"].shape[0]):
        s, e = int(data["start_positions"][w]), int(data["end_positions"][w])
        if s == 0:
            assert e == 0
            continue
        labelled += 1
        offsets = enc["offset_mapping"][w]
        assert context[int(offsets[s][0]) : int(offsets[e][1])] == "1871"
    assert labelled >= 1

    negative = QaExample(example.question, context, "", -1)  # same text, marked "does not answer"
    assert not features(tokenizer, [negative])["start_positions"].any()


def test_training_learns_the_pattern_and_the_reader_answers_with_a_citation(
    tiny_bert_base: Path, tmp_path: Path
) -> None:
    rng = random.Random(0)
    train = [flag_example(rng) for _ in range(256)]
    losses: list[float] = []
    out = tmp_path / "reader"
    meta = train_reader(
        tiny_bert_base,
        train,
        out,
        TrainConfig(epochs=3, lr=1e-3, batch_size=16),
        on_step=lambda step, total, loss: losses.append(loss),
    )
    assert meta["examples"] == 256 and meta["steps"] == len(losses) == 48
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert json.loads((out / "vtrag-reader.json").read_text())["format"] == "vtrag-reader/1"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind

    reader = SpanReader(out)
    held_out = [flag_example(random.Random(99)) for _ in range(1)] + [flag_example(rng) for _ in range(19)]
    right = 0
    for ex in held_out:
        (span,) = reader.read(ex.question, [ex.context])
        right += span is not None and ex.context[span.start : span.end] == ex.answer
    assert right >= 18

    ex = held_out[0]
    page = PageRecord(
        doc_id="d" * 64, page_no=2, source="flags.pdf", mode="base", n_tokens=0, text=ex.context,
        text_source="pdf", width=612.0, height=792.0, dpi=144.0,
        lines=[TextLine(0, len(ex.context), (72.0, 100.0, 540.0, 112.0))], text_vec=None,
    )  # fmt: skip
    answer = reader(ex.question, [SearchHit(page, 1.0)])
    assert answer.text == ex.answer and answer.page_id == page.page_id and 0.0 < answer.score <= 1.0
    (cite,) = answer.citations
    assert cite.page == 2 and cite.bbox_points == (72.0, 100.0, 540.0, 112.0)
    assert cite.bbox_pixels == (144.0, 200.0, 1080.0, 224.0)
    assert reader(ex.question, []).text == ""


def test_a_save_that_fails_keeps_the_old_reader_and_leaves_no_temp_folder(
    tiny_bert_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import decoder.span_reader_train as training

    out = tmp_path / "reader"
    examples = [flag_example(random.Random(1)) for _ in range(4)]
    training.train_reader(tiny_bert_base, examples, out, TrainConfig(epochs=1))
    before = (out / "model.safetensors").read_bytes()

    def disk_full(folder: Path, meta: dict) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(training, "write_meta", disk_full)
    with pytest.raises(OSError, match="No space"):
        training.train_reader(tiny_bert_base, examples, out, TrainConfig(epochs=1, seed=5))
    assert (out / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reader"]


def test_reader_folder_errors(tiny_bert_base: Path, tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="vtrag reader train"):
        SpanReader(tmp_path)
    (tmp_path / "vtrag-reader.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ReaderError, match="format"):
        SpanReader(tmp_path)


def test_a_stopped_training_resumes_from_its_checkpoint_and_ends_as_an_unbroken_run(
    tiny_bert_base: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    examples = [flag_example(random.Random(n)) for n in range(64)]
    config = TrainConfig(epochs=2, lr=1e-3, batch_size=16, checkpoint_every=3)  # 8 steps
    train_reader(tiny_bert_base, examples, tmp_path / "unbroken", config)

    class Stop(Exception):
        pass

    def stop_at_5(step: int, total: int, loss: float) -> None:
        if step == 5:
            raise Stop

    out = tmp_path / "resumed"
    with pytest.raises(Stop):
        train_reader(tiny_bert_base, examples, out, config, on_step=stop_at_5)
    assert (tmp_path / ".resumed.checkpoint.pt").is_file() and not out.exists()
    steps: list[int] = []
    train_reader(tiny_bert_base, examples, out, config, on_step=lambda s, t, loss: steps.append(s))
    assert steps == [4, 5, 6, 7, 8]  # from the checkpoint at step 3
    assert not (tmp_path / ".resumed.checkpoint.pt").exists()
    a = load_file(tmp_path / "unbroken" / "model.safetensors")
    b = load_file(out / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
