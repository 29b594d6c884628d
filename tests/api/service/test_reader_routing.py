"""With the shipped trained reader, questions asking for a code token go to the rule-based reader's code-token
extraction (setting `code_questions_by_rules`, on by default); other questions to the trained reader; each
answer names the reader that found it."""

from __future__ import annotations

import pytest

from api.service.reader import Reader
from decoder.span_reader_format import shipped_reader_dir
from retriever.records import SearchHit
from tests.decoder.test_extractive import make_page

BASH = (
    "dotglob If set, Bash includes filenames beginning with a '.' in the results of filename expansion. "
    "The filenames '.' and '..' must always be matched explicitly, even if dotglob is set. "
    "execfail If this is set, a non-interactive shell will not exit if it cannot execute the file. "
    "The lighthouse on the point was built in 1871 by the harbour board."
)
CODE_QUESTION = "Which shell option makes bash include filenames beginning with a dot in filename expansion?"
PROSE_QUESTION = "When was the lighthouse built?"


@pytest.fixture(scope="module")
def shipped():
    folder = shipped_reader_dir()
    assert folder is not None, "the package ships decoder/readers/squad-minilm-int8 (docs/READER.md)"
    return folder


def hits():
    return [SearchHit(make_page(BASH), 1.0)]


def test_code_questions_go_to_the_rules_and_prose_to_the_trained_reader(shipped):
    reader = Reader(shipped, "cpu")
    code = reader(CODE_QUESTION, hits(), embedder=None)
    prose = reader(PROSE_QUESTION, hits(), embedder=None)
    assert code.text == "dotglob" and code.reader == "rules"
    assert prose.text == "1871" and prose.reader == shipped.name == reader.name


def test_the_setting_off_sends_every_question_to_the_trained_reader(shipped):
    reader = Reader(shipped, "cpu", code_questions_by_rules=False)
    assert reader(CODE_QUESTION, hits(), embedder=None).reader == shipped.name


def test_without_a_trained_reader_the_rules_answer_everything():
    reader = Reader(None, "cpu")
    assert reader(PROSE_QUESTION, hits(), embedder=None).text == "1871" and reader.name == "rules"
