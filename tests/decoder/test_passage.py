"""Supporting passages: the sentence or lines around an answer span, at most 300 characters."""

from __future__ import annotations

from types import SimpleNamespace

from decoder.extractive import distinct, make_passage
from decoder.extractive.passage import MAX_PASSAGE_CHARS, passage_bounds


def test_the_passage_is_the_sentence_that_holds_the_span() -> None:
    sentence = "The lighthouse on the northern headland was built in 1871 by the engineer Thomas Rowe."
    text = f"The harbour was dredged in 1850. {sentence} It still stands today."
    at = text.index("1871")
    lo, hi = passage_bounds(text, at, at + 4)
    assert text[lo:hi] == sentence


def test_a_term_on_its_own_line_takes_the_lines_that_describe_it() -> None:
    text = (
        "dirspell\nIf set, Bash attempts spelling correction on directory names.\n"
        "dotglob\nIf set, Bash includes filenames beginning with a '.' in the results of filename "
        "expansion.\n"
        "execfail\nIf this is set, a non-interactive shell will not exit."
    )
    at = text.index("dotglob")
    lo, hi = passage_bounds(text, at, at + 7)
    passage = text[lo:hi]
    assert passage.startswith("dotglob\nIf set, Bash includes filenames beginning with a '.'")
    assert len(passage) <= MAX_PASSAGE_CHARS


def test_a_long_sentence_is_cut_to_a_window_around_the_span_at_word_boundaries() -> None:
    words = " ".join(f"word{n}" for n in range(200))
    text = f"{words} answer {words}."
    at = text.index("answer")
    lo, hi = passage_bounds(text, at, at + 6)
    assert hi - lo <= MAX_PASSAGE_CHARS and lo < at and hi > at + 6
    assert text[lo - 1] == " " and text[hi] == " "


def test_make_passage_marks_the_span_and_distinct_drops_overlaps_on_the_same_page() -> None:
    sentence = "The answer to the question of life, the universe and everything is 42, as the book says."
    text = f"Alpha is first. {sentence} Omega is last."
    page = SimpleNamespace(text=text, page_id="d:1")
    other = SimpleNamespace(text=text, page_id="d:2")
    at = text.index("42")
    best = make_passage(page, at, at + 2, 3.0)
    assert best.text == sentence
    assert best.text[best.span[0] : best.span[1]] == "42"
    same = make_passage(page, text.index("book"), text.index("book") + 4, 2.0)  # same sentence: overlaps
    elsewhere = make_passage(other, at, at + 2, 1.0)
    assert distinct([best, same, elsewhere], 3) == [best, elsewhere]
