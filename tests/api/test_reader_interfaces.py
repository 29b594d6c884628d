"""`vtrag reader train` through the real CLI, and answers read with the folder it wrote: `vtrag ask`,
`vtrag eval qa --reader`, and the REST answer route (stored text and full-OCR fallback) under uvicorn."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from api.settings import Settings
from tests.api.conftest import serve, settings_for, wait_job
from tests.api.service.test_light_ask import ask_in_process
from tests.conftest import cli_json, make_pdf, run_cli
from tests.decoder.test_span_reader import flag_example

PARAGRAPHS = 240
HELD_SAMPLE = 12  # paragraphs whose questions form the "evaluation sample" that must not train the reader


def write_dataset(root: Path) -> Path:
    """A dataset folder in the eval layout: one flag paragraph and one question each; plus sample/."""
    rng = random.Random(3)
    root.mkdir()
    corpus, queries, qrels, answers = [], [], [], []
    for n in range(PARAGRAPHS):
        ex = flag_example(rng)
        pid, qid = f"p{n:03d}", f"q{n:03d}"
        corpus.append({"id": pid, "title": "Flags", "text": ex.context})
        queries.append({"id": qid, "text": ex.question})
        qrels.append(f"{qid}\t{pid}\t1")
        answers.append({"id": qid, "corpus_id": pid, "answers": [ex.answer]})

    def put(folder: Path, rows: range) -> None:
        folder.mkdir(exist_ok=True)
        (folder / "queries.jsonl").write_text("".join(json.dumps(queries[i]) + "\n" for i in rows))
        (folder / "qrels.tsv").write_text("".join(qrels[i] + "\n" for i in rows))
        (folder / "answers.jsonl").write_text("".join(json.dumps(answers[i]) + "\n" for i in rows))

    (root / "corpus.jsonl").write_text("".join(json.dumps(c) + "\n" for c in corpus))
    put(root, range(PARAGRAPHS))
    put(root / "sample", range(HELD_SAMPLE))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_bert_base: Path) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("reader-cli")
    dataset = write_dataset(tmp / "flags")
    out = tmp / "reader"
    meta = cli_json(
        "reader", "train", str(dataset), "--out", str(out), "--exclude", str(dataset / "sample"),
        "--base-model", str(tiny_bert_base), "--epochs", "3", "--lr", "1e-3", "--batch-size", "16",
        "--validation", "0.1", "--device", "cpu",
    )  # fmt: skip
    return out, meta


def test_train_keeps_excluded_and_held_out_paragraphs_out_and_reports_validation(
    trained: tuple[Path, dict],
) -> None:
    out, meta = trained
    held_out = round(0.1 * (PARAGRAPHS - HELD_SAMPLE))
    assert meta["excluded_paragraphs"] == HELD_SAMPLE
    assert meta["examples"] == PARAGRAPHS - HELD_SAMPLE - held_out
    assert meta["negatives"] == 2 * meta["examples"]
    assert meta["validation"]["questions"] == held_out
    assert meta["validation"]["exact_match"] >= 80.0  # paragraphs it never saw
    assert meta["validation"]["with_distractors"]["questions"] == held_out
    assert json.loads((out / "vtrag-reader.json").read_text()) == meta


def readers_scores(settings: Settings, reader: Path) -> dict[str, float]:
    """The answer scores both readers give the flag question over the index's top pages: the rule-based one
    also answers "crimson", so only the score shows which reader answered."""
    from api.service.facade import Service
    from decoder.extractive import answer_extractive
    from decoder.span_reader import SpanReader

    service = Service(settings)
    try:
        hits = service.retrieve("What colour was the flag?", 5)
        rules = answer_extractive("What colour was the flag?", hits, embedder=service.embedder)
        trained = SpanReader(reader)("What colour was the flag?", hits)
    finally:
        service.close()
    assert rules.score != pytest.approx(trained.score, abs=1e-3)
    return {"rules": rules.score, "trained": trained.score}


def test_ask_answers_with_the_trained_reader_and_cites_the_line(
    trained: tuple[Path, dict], tmp_path: Path
) -> None:
    out, _ = trained
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "voyage.pdf", ["The ship left harbour at dawn. The flag was crimson. Grain and timber."])
    make_pdf(docs / "bread.pdf", ["Mix rye flour, water and caraway seeds; bake at two hundred degrees."])
    data = tmp_path / "data"
    run_cli("index", "build", str(docs), "--data-dir", str(data), "--json", check=True)
    env = {"VTRAG_READER_DIR": str(out)}
    answer = cli_json("ask", "What colour was the flag?", "--data-dir", str(data), env=env)
    assert answer["mode"] == "extractive" and answer["answer"] == "crimson"
    (cite,) = answer["citations"]
    assert cite["source"].endswith("voyage.pdf") and cite["page"] == 1 and cite["bbox"]["points"]
    assert answer["score"] == pytest.approx(readers_scores(Settings(data_dir=data), out)["trained"], abs=1e-3)

    not_a_reader = {"VTRAG_READER_DIR": str(docs)}
    broken = run_cli("ask", "What colour?", "--data-dir", str(data), "--json", env=not_a_reader)
    assert broken.returncode == 2
    assert "is not a reader folder" in broken.stderr and "vtrag reader train" in broken.stderr


def test_train_rejects_a_missing_dataset_or_base_model(tmp_path: Path) -> None:
    proc = run_cli("reader", "train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "corpus.jsonl" in proc.stderr
    dataset = write_dataset(tmp_path / "flags")
    out = str(tmp_path / "r")
    proc = run_cli("reader", "train", str(dataset), "--out", out, "--base-model", str(tmp_path))
    assert proc.returncode == 2 and "cannot load the base model" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flags"]


def test_eval_qa_reads_with_the_trained_reader(trained: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = trained
    dataset = write_dataset(tmp_path / "flags")
    args = ("--corpus-sample", "30", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "o"))
    qa = cli_json("eval", "qa", str(dataset / "sample"), "--reader", str(out), *args)
    assert qa["config"]["reader"] == "reader" and qa["questions"] == HELD_SAMPLE
    assert qa["oracle"]["exact_match"] >= 80.0
    refused = run_cli("eval", "qa", str(dataset / "sample"), "--reader", str(dataset), *args)
    assert refused.returncode == 2 and "is not a reader folder" in refused.stderr


def test_rest_answers_read_with_the_trained_reader(trained: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = trained
    voyage = make_pdf(tmp_path / "voyage.pdf", ["The ship left harbour at dawn. The flag was crimson."])
    with serve(settings_for(tmp_path / "data", reader_dir=out)) as running, running.client() as client:
        upload = client.post("/v1/documents", files=[("files", ("voyage.pdf", voyage.read_bytes()))])
        assert wait_job(client, upload.json()["job_id"])["status"] == "succeeded"
        question = "What colour was the flag?"
        stored = client.post("/v1/answer", json={"question": question}).json()
        assert stored["answer"] == "crimson" and stored["mode"] == "extractive"
        expected = readers_scores(running.settings, out)
        assert stored["score"] == pytest.approx(expected["trained"], abs=1e-3) != expected["rules"]
        assert stored["citations"][0]["bbox"]["points"]
        reread = client.post("/v1/answer", json={"question": question, "full_ocr": True}).json()
        assert reread["mode"] == "ocr-fallback" and reread["fallback"]["engine"] == "rapidocr"
        assert reread["answer"].lower() == "crimson"


def test_export_writes_an_int8_reader_that_ask_answers_with(
    trained: tuple[Path, dict], tmp_path: Path
) -> None:
    out, _ = trained
    int8 = tmp_path / "reader-int8"
    meta = cli_json("reader", "export", str(out), "--out", str(int8))
    assert meta["runtime"] == "onnx-int8" and (int8 / "reader.int8.onnx").is_file()
    assert meta["megabytes"] < 10 and meta["int8_logit_correlation"] >= 0.98
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "voyage.pdf", ["The ship left harbour at dawn. The flag was crimson. Grain and timber."])
    data = tmp_path / "data"
    run_cli("index", "build", str(docs), "--data-dir", str(data), "--json", check=True)
    answer = cli_json(
        "ask", "What colour was the flag?", "--data-dir", str(data), env={"VTRAG_READER_DIR": str(int8)}
    )
    assert answer["answer"] == "crimson" and answer["reader"] == "reader-int8"
    assert "The flag was crimson." in answer["passage"]["text"]
    # the int8 reader answers without torch or transformers (no device check imports them either)
    out = ask_in_process("What colour was the flag?", data, env={"VTRAG_READER_DIR": str(int8)})
    assert "answer: crimson" in out and "reader: reader-int8" in out and "loaded: False False" in out, out
    refused = run_cli("reader", "export", str(docs), "--out", str(tmp_path / "x"))
    assert refused.returncode == 2 and "is not a reader folder" in refused.stderr


def test_a_shipped_reader_answers_by_default_and_rules_stays_selectable(
    trained: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import decoder.span_reader_format as reader_format

    out, _ = trained
    monkeypatch.delenv("VTRAG_READER_DIR", raising=False)
    monkeypatch.setattr(reader_format, "SHIPPED_READER", tmp_path / "not-shipped")
    assert Settings(data_dir=tmp_path / "d0").reader_dir is None  # an install without one: the rules
    monkeypatch.setattr(reader_format, "SHIPPED_READER", out)  # as if the package shipped this folder
    voyage = make_pdf(tmp_path / "voyage.pdf", ["The ship left harbour at dawn. The flag was crimson."])
    question = {"question": "What colour was the flag?"}
    for choice, reader in ((None, "reader"), ("rules", "rules")):
        extra = {} if choice is None else {"reader_dir": choice}
        with serve(settings_for(tmp_path / f"data-{reader}", **extra)) as running, running.client() as client:
            upload = client.post("/v1/documents", files=[("files", ("voyage.pdf", voyage.read_bytes()))])
            assert wait_job(client, upload.json()["job_id"])["status"] == "succeeded"
            answer = client.post("/v1/answer", json=question).json()
            assert answer["answer"] == "crimson" and answer["reader"] == reader
