"""Evaluation results out: a JSON file, a Markdown block in docs/BENCHMARKS.md, and a PNG plot.

BENCHMARKS.md is shared: other tools append their own sections. This module owns one section, `## Evaluation
(vtrag eval)`, and inside it one block per run configuration, fenced by HTML comments
(`<!-- vtrag-eval:<slug> -->` … `<!-- /vtrag-eval:<slug> -->`): a rerun of the same configuration replaces its
block; everything outside the section is left byte for byte as it was.
"""

from __future__ import annotations

import json
import platform
import re
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.metrics import RETRIEVAL_KEYS

SECTION = "## Evaluation (vtrag eval)"
SECTION_INTRO = (
    "Written by `vtrag eval` (docs/EVALUATION.md). Each block is replaced when the same configuration is "
    "run again."
)


def machine() -> str:
    """A one-line description of the machine the numbers were taken on."""
    import os

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores}-core CPU ({cpu}), Python {platform.python_version()}, {platform.system()}"


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as typed: `vtrag eval …`."""
    args = list(sys.argv[1:] if argv is None else argv)
    return "vtrag " + " ".join(shlex.quote(a) for a in args)


def stamp() -> dict[str, str]:
    return {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "command": command_line()}


def slug(*parts: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def write_json(path: Path, result: dict[str, Any]) -> Path:
    """Write `result` as indented JSON (gzip-compressed when the name ends in .gz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=None if path.suffix == ".gz" else 2, ensure_ascii=False) + "\n"
    if path.suffix == ".gz":
        import gzip

        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def update_benchmarks(path: Path, block_id: str, markdown: str) -> None:
    """Put `markdown` into the block `block_id` of our section of `path` (created if missing).

    Args:
        path: the BENCHMARKS.md file (created with a title if absent).
        block_id: the block's slug.
        markdown: the block body (a heading and tables).
    """
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    begin, end = f"<!-- vtrag-eval:{block_id} -->", f"<!-- /vtrag-eval:{block_id} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    elif SECTION in text:
        # Append at the end of our section: before the next "## " heading, or at the end of the file.
        start = text.index(SECTION) + len(SECTION)
        nxt = re.search(r"^## ", text[start:], flags=re.M)
        cut = start + nxt.start() if nxt else len(text)
        body = text[:cut].rstrip("\n")
        text = body + "\n\n" + block + "\n" + ("\n" + text[cut:] if nxt else "")
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{SECTION_INTRO}\n\n{block}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _provenance(result: dict[str, Any], plot: str | None) -> str:
    s = result["stamp"]
    lines = [f"`{s['command']}`  ", f"{s['date']}, {s['machine']}"]
    if plot:
        lines.append(f"\n![plot]({plot})")
    return "\n".join(lines)


def retrieval_markdown(result: dict[str, Any], plot: str | None = None) -> str:
    c = result["config"]
    title = (
        f"### Retrieval: {c['dataset']}, {result['queries']} queries, text source {c['text_source']}, "
        f"mode {c['mode']}, title {'on' if c['title'] else 'off'}"
    )
    names = {
        "pipeline": f"vtrag (hybrid, {result.get('fusion', 'rrf')} fusion)",
        "milvus_bm25": "… its Milvus BM25 leg alone",
        "dense": "… its dense MiniLM leg alone",
        "bm25_raw": "BM25 on the raw text",
    }
    rows = [
        "| system | " + " | ".join(RETRIEVAL_KEYS) + " | ms/query |",
        "|---" * (len(RETRIEVAL_KEYS) + 2) + "|",
    ]
    for key, label in names.items():
        m = result["systems"].get(key)
        if m:
            vals = " | ".join(f"{m[k]:.3f}" for k in RETRIEVAL_KEYS)
            rows.append(f"| {label} | {vals} | {m['ms_per_query']:.1f} |")
    ratio = " | ".join(f"{result['ratio'][k]:.3f}" for k in RETRIEVAL_KEYS)
    rows.append(f"| **ratio vtrag / BM25** | {ratio} | |")
    b = result.get("index", {})
    build = (
        f"Corpus {c['corpus_records']} records → {b.get('pages', '?')} pages "
        f"({', '.join(f'{k}: {v}' for k, v in b.get('pages_by_text_source', {}).items())}); "
        f"index {'reused from cache' if result.get('index_reused') else 'built'} "
        f"(render {b.get('render_seconds', '?')} s, build {b.get('build_seconds', '?')} s)."
    )
    return "\n".join([title, "", *rows, "", build, "", _provenance(result, plot)])


def qa_markdown(result: dict[str, Any], plot: str | None = None) -> str:
    c = result["config"]
    e, h = result["end_to_end"], result["hit_rate"]
    lines = [
        f"### QA: {c['dataset']}, {result['questions']} questions, text source {c['text_source']}, "
        f"top-{result['top_k']} pages, reader {c.get('reader', 'rules')}",
        "",
        "| setting | EM | F1 | ms/question |",
        "|---|---|---|---|",
        f"| end to end (retrieve → answer) | {e['exact_match']:.1f} | {e['f1']:.1f} | "
        f"{result['ms_per_question']:.1f} |",
    ]
    if "oracle" in result:
        o = result["oracle"]
        lines.append(
            f"| judged page only (oracle retrieval) | {o['exact_match']:.1f} | {o['f1']:.1f} | "
            f"{o['ms_per_question']:.1f} |"
        )
    lines += [
        "",
        f"Retrieval hit rate: judged page among the {result['top_k']} pages read {100 * h['at_k']:.1f}%, "
        f"ranked first {100 * h['at_1']:.1f}%. F1 when it was read {result['f1_when_hit']:.1f}, "
        f"when it was not {result['f1_when_missed']:.1f}.",
    ]
    if "passage_has_answer" in result:
        lines.append(
            f"What a person sees: the answer's passage (≤ 300 characters) contains a gold answer "
            f"{100 * result['passage_has_answer']:.1f}%; the first cited page is an answering page "
            f"{100 * result['cited_page_precision']:.1f}%."
        )
    if "loss" in result:
        lines.append(
            f"Loss attribution (F1 points): reading {result['loss']['reading']:.1f}, "
            f"retrieval {result['loss']['retrieval']:.1f}."
        )
    return "\n".join([*lines, "", _provenance(result, plot)])


def ocr_markdown(result: dict[str, Any], plot: str | None = None) -> str:
    c = result["config"]
    modes = result["modes"]
    lines = [
        f"### OCR: {c['dataset']}, {result['pages']} pages ({c['pack']} record(s) per page), "
        f"engine {result['engine']}",
        "",
        "| mode | view px | vision tokens | text tokens/page | compression | char accuracy (1 − CER) | "
        "mean per page | ms/page |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in modes.items():
        lines.append(
            f"| {name} | {m['size']} | {m['vision_tokens']} | {m['text_tokens_mean']:.0f} | "
            f"{m['compression']:.1f}x | {m['char_accuracy']:.4f} | {m['mean_char_accuracy']:.4f} | "
            f"{m['ms_per_page']:.0f} |"
        )
    buckets = sorted(
        {b for m in modes.values() for b in m["buckets"]}, key=lambda b: int(re.split(r"[-+]", b)[0])
    )
    lines += ["", "By text tokens per page (char accuracy, compression in brackets):", ""]
    lines.append("| text tokens | pages | " + " | ".join(modes) + " |")
    lines.append("|---" * (len(modes) + 2) + "|")
    for b in buckets:
        n = next(m["buckets"][b]["pages"] for m in modes.values() if b in m["buckets"])
        cells = []
        for m in modes.values():
            x = m["buckets"].get(b)
            cells.append(f"{x['char_accuracy']:.4f} ({x['compression']:.1f}x)" if x else "")
        lines.append(f"| {b} | {n} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", _provenance(result, plot)])


# ---------------------------------------------------------------------------------------------- plots


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_retrieval(result: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    systems = [s for s in ("pipeline", "milvus_bm25", "dense", "bm25_raw") if s in result["systems"]]
    labels = {
        "pipeline": "vtrag hybrid",
        "milvus_bm25": "Milvus BM25 leg",
        "dense": "dense leg",
        "bm25_raw": "BM25 raw text",
    }
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(systems)
    for k, s in enumerate(systems):
        xs = [i + k * width for i in range(len(RETRIEVAL_KEYS))]
        ax.bar(xs, [result["systems"][s][m] for m in RETRIEVAL_KEYS], width, label=labels[s])
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(RETRIEVAL_KEYS))], RETRIEVAL_KEYS)
    low = min(result["systems"][s][m] for s in systems for m in RETRIEVAL_KEYS)
    ax.set_ylim(max(0.0, low - 0.1), 1.01)  # the differences are in the top of the scale
    ax.set_title(f"Retrieval, {result['config']['dataset']} ({result['config']['text_source']})")
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    return _save(fig, path)


def plot_qa(result: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    names = ["EM end to end", "F1 end to end"]
    vals = [result["end_to_end"]["exact_match"], result["end_to_end"]["f1"]]
    if "oracle" in result:
        names += ["EM judged page", "F1 judged page"]
        vals += [result["oracle"]["exact_match"], result["oracle"]["f1"]]
    names.append(f"hit@{result['top_k']} %")
    vals.append(100 * result["hit_rate"]["at_k"])
    ax.bar(names, vals, color=["C0", "C0", "C1", "C1", "C2"][: len(vals)])
    ax.set_ylim(0, 100)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    ax.set_title(f"QA, {result['config']['dataset']}")
    return _save(fig, path)


def plot_ocr(result: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    modes = result["modes"]
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [m["vision_tokens"] for m in modes.values()]
    ax.plot(xs, [m["char_accuracy"] for m in modes.values()], "o-", label="all pages", linewidth=2)
    buckets = sorted(
        {b for m in modes.values() for b in m["buckets"]}, key=lambda b: int(re.split(r"[-+]", b)[0])
    )
    for b in buckets:
        pts = [
            (m["vision_tokens"], m["buckets"][b]["char_accuracy"])
            for m in modes.values()
            if b in m["buckets"]
        ]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], ".--", label=f"{b} text tokens", alpha=0.7)
    for name, m in modes.items():
        ax.annotate(name, (m["vision_tokens"], m["char_accuracy"]), textcoords="offset points", xytext=(0, 6))
    ax.set_xlabel("vision tokens per page (mode)")
    ax.set_ylabel("character accuracy (1 - CER)")
    ax.set_title(f"OCR by mode, {result['config']['dataset']}")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
