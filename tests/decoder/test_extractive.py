"""The lite profile's extractive reader: answers, spans, citations, and the no-answer path."""

from __future__ import annotations

import numpy as np
import pytest

from decoder.extractive import Citation, ExtractiveAnswer, answer_extractive, line_box
from decoder.extractive.question import (
    COUNT,
    DATE,
    LOCATION,
    MONEY,
    PERSON,
    REASON,
    YEAR,
    analyze_question,
)
from decoder.extractive.text import split_sentences, stem, tokenize
from retriever.records import PageRecord, SearchHit, TextLine


def make_page(
    text: str, *, doc_id: str = "d" * 64, page_no: int = 3, dpi: float = 144.0, wrap: int = 60
) -> PageRecord:
    """A page whose text is laid out in lines of about `wrap` characters, one box per line, 14 pt apart."""
    lines, start, k = [], 0, 0
    while start < len(text):
        end = min(len(text), start + wrap)
        if end < len(text):
            cut = text.rfind(" ", start, end)
            end = cut if cut > start else end
        lines.append(TextLine(start, end, (72.0, 100.0 + 14 * k, 72.0 + 5.0 * (end - start), 112.0 + 14 * k)))
        start = end + 1 if end < len(text) and text[end] == " " else end
        k += 1
    return PageRecord(
        doc_id=doc_id,
        page_no=page_no,
        source="/docs/report.pdf",
        mode="base",
        n_tokens=0,
        text=text,
        text_source="pdf",
        width=612.0,
        height=792.0,
        dpi=dpi,
        lines=lines,
        text_vec=None,
    )


LIGHTHOUSE = (
    "The Old Point lighthouse stands on a rocky cape north of the harbour. It was built in 1871 by the "
    "engineer Thomas Stevenson, whose firm designed many Scottish lights. The tower is 37 metres tall "
    "and its lamp can be seen from 22 nautical miles. The light was automated in 1989 because the last "
    "keeper retired. Repairs after the storm of 2004 cost $2.5 million."
)


def ask(question: str, *pages: PageRecord, **kw) -> ExtractiveAnswer:
    return answer_extractive(question, [SearchHit(p, 1.0 / (r + 1)) for r, p in enumerate(pages)], **kw)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When was the lighthouse built?", "1871"),
        pytest.param(
            "Who built the lighthouse?",
            "Thomas Stevenson",
            # known weakness: the passive agent of a pronoun-led sentence ("It was built … by X") loses to a
            # name right next to "lighthouse" in the sentence before
            marks=pytest.mark.xfail(reason="coreference + passive agent vs adjacent name", strict=False),
        ),
        ("How many nautical miles away can the lamp be seen?", "22"),
        ("How tall is the tower?", "37 metres"),
        ("In what year was the light automated?", "1989"),
        ("How much did the repairs after the storm cost?", "$2.5 million"),
    ],
)
def test_typed_questions_get_short_spans(question, expected):
    ans = ask(question, make_page(LIGHTHOUSE))
    assert expected in ans.text
    assert len(ans.text) <= len(expected) + 20
    assert 0.0 < ans.score <= 1.0


def test_why_question_gets_the_reason_clause():
    ans = ask("Why was the light automated?", make_page(LIGHTHOUSE))
    assert "last keeper retired" in ans.text


def test_span_and_citation_point_into_the_page():
    page = make_page(LIGHTHOUSE)
    ans = ask("Who built the lighthouse?", page)
    start, end = ans.span
    assert page.text[start:end] == ans.text
    assert ans.page_id == page.page_id
    [cite] = ans.citations
    assert isinstance(cite, Citation)
    assert (cite.doc_id, cite.source, cite.page, cite.dpi) == (page.doc_id, "/docs/report.pdf", 3, 144.0)
    touched = [ln for ln in page.lines if ln.start < end and ln.end > start]
    assert touched
    assert cite.bbox_points == (
        min(ln.bbox[0] for ln in touched),
        min(ln.bbox[1] for ln in touched),
        max(ln.bbox[2] for ln in touched),
        max(ln.bbox[3] for ln in touched),
    )
    assert cite.bbox_pixels == pytest.approx(tuple(v * 2 for v in cite.bbox_points))  # 144 dpi: 2 px per pt


def test_line_box_unions_only_overlapping_lines():
    lines = [
        TextLine(0, 10, (0, 0, 50, 10)),
        TextLine(11, 20, (0, 12, 80, 22)),
        TextLine(21, 30, (0, 24, 40, 34)),
    ]
    assert line_box(lines, 5, 15) == (0.0, 0.0, 80.0, 22.0)
    assert line_box(lines, 21, 22) == (0.0, 24.0, 40.0, 34.0)
    assert line_box(lines, 40, 50) is None


def test_page_without_lines_cites_the_page_without_a_box():
    page = make_page(LIGHTHOUSE)
    page.lines = []
    ans = ask("When was the lighthouse built?", page)
    assert ans.text == "1871"
    assert ans.citations[0].bbox_points is None and ans.citations[0].page == 3


def test_reads_the_page_that_answers_among_several():
    other = make_page(
        "Harbour fees rose in 1990 after the new pier opened to ferries.", doc_id="e" * 64, page_no=1
    )
    page = make_page(LIGHTHOUSE)
    ans = ask("Who was the engineer of the Old Point lighthouse?", other, page)
    assert ans.text == "Thomas Stevenson"
    assert ans.page_id == page.page_id


def test_no_answer_when_nothing_matches():
    assert ask("Who is the president of France?", make_page(LIGHTHOUSE)) == ExtractiveAnswer("", 0.0)
    assert ask("What colour is the cat?", make_page(LIGHTHOUSE)) == ExtractiveAnswer("", 0.0)
    assert ask("Who built the lighthouse?") == ExtractiveAnswer("", 0.0)  # no hits
    assert ask("???", make_page(LIGHTHOUSE)) == ExtractiveAnswer("", 0.0)
    assert ask("When was it built?", make_page("")).text == ""


def test_thin_evidence_scores_low():
    # one incidental word in common ("Point"): whatever comes back must say it is a guess
    weak = ask("What is the boiling point of mercury?", make_page(LIGHTHOUSE))
    strong = ask("When was the lighthouse built?", make_page(LIGHTHOUSE))
    assert weak.score < 0.35 < strong.score


def test_max_chars_cuts_long_answers():
    ans = ask("Why was the light automated?", make_page(LIGHTHOUSE), max_chars=12)
    assert 0 < len(ans.text) <= 12
    assert ans.span[1] - ans.span[0] == len(ans.text)


class FakeEmbedder:
    """Bag-of-letters vectors: deterministic, normalised, enough to check the dense path is wired."""

    def embed(self, texts):
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    def embed_query(self, text):
        return self.embed([text])[0]


def test_embedder_is_optional_and_used():
    page = make_page(LIGHTHOUSE)
    plain = ask("When was the lighthouse built?", page)
    dense = ask("When was the lighthouse built?", page, embedder=FakeEmbedder())
    assert plain.text == dense.text == "1871"


# ------------------------------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("question", "answer_type", "focus"),
    [
        ("Who won Super Bowl 50?", PERSON, ""),
        ("When did the war end?", DATE, ""),
        ("In what year was the tower built?", YEAR, "year"),
        ("How many people live there?", COUNT, "people"),
        ("How much did it cost?", MONEY, ""),
        ("Which city hosted the games?", LOCATION, "city"),
        ("What is the name of the stadium where the game was played?", LOCATION, "stadium"),
        ("Why did the keeper leave?", REASON, ""),
    ],
)
def test_question_types(question, answer_type, focus):
    q = analyze_question(question)
    assert q.answer_type == answer_type
    assert q.focus == focus


def test_question_word_order_sides():
    subj = analyze_question("Which team won the cup?")
    assert subj.wh_is_subject and subj.side[stem("cup")] == -1
    obj = analyze_question("What did Tesla invent?")
    assert not obj.wh_is_subject and obj.side[stem("tesla")] == 1
    tail = analyze_question("The smaller streams are used for what?")
    assert tail.side[stem("streams")] == 1


def test_sentence_splitting_keeps_abbreviations_and_initials():
    text = "Dr. J. R. Smith moved to the U.S. in 1990. He died in St. Louis. Later, he was honoured!\n\nNext"
    spans = split_sentences(text)
    sents = [text[s:e] for s, e in spans]
    assert sents == [
        "Dr. J. R. Smith moved to the U.S. in 1990.",
        "He died in St. Louis.",
        "Later, he was honoured!",
        "Next",
    ]


def test_tokens_keep_offsets():
    text = "Levi's Stadium cost $1,300,000 in 2014–15."
    toks = tokenize(text, offset=10)
    assert [t.text for t in toks] == [
        "Levi's",
        "Stadium",
        "cost",
        "$",
        "1,300,000",
        "in",
        "2014",
        "–",
        "15",
        ".",
    ]
    for t in toks:
        assert ("x" * 10 + text)[t.start : t.end] == t.text
    assert stem("founded") == stem("founding") == stem("found")
    assert stem("cities") == "city"


@pytest.mark.parametrize(
    ("text", "question", "expected"),
    [
        # a name typed without its diacritics still matches the page
        ("In 1880 his uncles paid for him to leave Gospić for Prague, where he studied.",
         "Where did he go upon leaving Gospic?", "Prague"),
        # the period of an initial stays inside the name
        ("The golf course at the country club was designed by William P. Bell in 1915.",
         "Who designed the golf course?", "William P. Bell"),
        # a numeric range is one answer
        ("Outbreaks of the plague recurred every 5 to 15 years across the continent.",
         "How many years separated outbreaks of the plague?", "5 to 15"),
        # the focus noun heads a named answer ("which court" → "the Court of Justice")
        ("In 1964 the Court of Justice ruled that community law takes precedence over national law.",
         "Which court ruled that community law takes precedence?", "Court of Justice"),
    ],
)  # fmt: skip
def test_general_span_rules(text: str, question: str, expected: str) -> None:
    assert ask(question, make_page(text)).text == expected


def test_a_copular_who_question_finds_the_answer_on_either_side() -> None:
    q = analyze_question("Who were the color analysts?")
    assert q.focus == "analysts" and set(q.side.values()) == {0}
    text = "Kevin Harlan called the game, with Boomer Esiason and Dan Fouts as color analysts."
    assert ask("Who were the color analysts?", make_page(text)).text == "Boomer Esiason and Dan Fouts"
