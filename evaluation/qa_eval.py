"""End-to-end question answering (retrieve → answer) scored with SQuAD EM/F1, with losses attributed.

Three numbers per question tell where an answer was lost:
- end to end: the answer pipeline of `vtrag ask` (`api.service.answer`) over the whole index (top-k pages);
- hit: whether the judged page was among the pages the answer was read from (and ranked first);
- oracle: the same pipeline restricted to the judged page alone (same reader, perfect retrieval).
Reading loss = 100 − oracle F1; retrieval loss = oracle F1 − end-to-end F1.

And two that say what a person sees: whether the answer's supporting passage (≤ 300 characters) contains a
gold answer, and whether the first cited page is a judged (answering) page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from api.service.batch import BatchItem, ask_many
from evaluation.datasets import EvalDataset
from evaluation.metrics import contains_answer, evaluate_answers, exact_match, f1_score, max_over_gold
from evaluation.scratch import ScratchIndex


def run_qa(
    ds: EvalDataset,
    qids: Sequence[str],
    index: ScratchIndex,
    *,
    top_k: int = 5,
    oracle: bool = True,
    reader_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Answer each question end to end and score it.

    Args:
        ds: the dataset, with answers.
        qids: questions to run (each needs answers and a judged record).
        index: the scratch index of `ds.corpus`.
        top_k: pages read per answer.
        oracle: also answer from the judged page alone.
        reader_dir: a trained span reader to answer with (None: the settings' reader).
        progress: called with a short line now and then.

    Returns:
        {"questions", "top_k", "end_to_end": {exact_match, f1, ...}, "oracle": {...},
         "hit_rate": {"at_k", "at_1"}, "f1_when_hit", "f1_when_missed", "loss": {"reading", "retrieval"},
         "passage_has_answer" (share of answers whose passage holds a gold answer), "cited_page_precision"
         (share whose first citation is a judged page),
         "ms_per_question", "records": [per question]}.
    """
    say = progress or (lambda line: None)
    items = [BatchItem(q, ds.queries[q]) for q in qids]
    service = index.service(**({"reader_dir": reader_dir} if reader_dir else {}))
    records: list[dict[str, Any]] = []
    try:
        by_record = {
            index.record_id(d.source): d.doc_id for d in service.store().list_docs(status="complete")
        }
        t0 = time.perf_counter()
        for n, (item, resp) in enumerate(ask_many(service, items, top_k=top_k), 1):
            golds = ds.answers[item.id]
            judged = set(ds.relevant(item.id))
            passage, cited = "", None
            if isinstance(resp, str):
                answer, read = "", []
            else:
                answer = resp.answer
                read = [index.record_id(p.source) for p in resp.pages]
                passage = resp.passage.text if resp.passage else ""
                cited = index.record_id(resp.citations[0].source) if resp.citations else None
            records.append(
                {
                    "id": item.id,
                    "question": item.text,
                    "prediction": answer,
                    "answers": golds,
                    "em": max_over_gold(exact_match, answer, golds),
                    "f1": max_over_gold(f1_score, answer, golds),
                    "hit": any(r in judged for r in read),
                    "hit_at_1": bool(read) and read[0] in judged,
                    "pages": read,
                    "passage": passage,
                    "passage_has_answer": max_over_gold(contains_answer, passage, golds),
                    "cited": cited,
                    "cited_is_judged": cited in judged,
                }
            )
            if n % 250 == 0:
                say(f"end to end: {n}/{len(items)} questions")
        e2e_s = time.perf_counter() - t0
        if oracle:
            t0 = time.perf_counter()
            for n, rec in enumerate(records, 1):
                gold_docs = [by_record[r] for r in ds.relevant(rec["id"]) if r in by_record]
                answer = ""
                if gold_docs:
                    answer = service.ask(rec["question"], top_k=1, doc_ids=gold_docs[:1]).answer
                rec["oracle_prediction"] = answer
                rec["oracle_f1"] = max_over_gold(f1_score, answer, rec["answers"])
                if n % 250 == 0:
                    say(f"oracle: {n}/{len(records)} questions")
            oracle_s = time.perf_counter() - t0
    finally:
        service.close()

    answers = {r["id"]: r["answers"] for r in records}
    out: dict[str, Any] = {"questions": len(records), "top_k": top_k}
    out["end_to_end"] = evaluate_answers({r["id"]: r["prediction"] for r in records}, answers)
    n = max(1, len(records))
    hits = [r for r in records if r["hit"]]
    misses = [r for r in records if not r["hit"]]
    out["hit_rate"] = {"at_k": len(hits) / n, "at_1": sum(r["hit_at_1"] for r in records) / n}
    out["f1_when_hit"] = 100.0 * sum(r["f1"] for r in hits) / max(1, len(hits))
    out["f1_when_missed"] = 100.0 * sum(r["f1"] for r in misses) / max(1, len(misses))
    out["passage_has_answer"] = sum(r["passage_has_answer"] for r in records) / n
    out["cited_page_precision"] = sum(r["cited_is_judged"] for r in records) / n
    out["ms_per_question"] = round(1000.0 * e2e_s / n, 1)
    if oracle:
        out["oracle"] = evaluate_answers({r["id"]: r["oracle_prediction"] for r in records}, answers)
        out["oracle"]["ms_per_question"] = round(1000.0 * oracle_s / n, 1)
        f1, of1 = out["end_to_end"]["f1"], out["oracle"]["f1"]
        out["loss"] = {"reading": round(100.0 - of1, 2), "retrieval": round(of1 - f1, 2)}
    out["records"] = records
    return out
