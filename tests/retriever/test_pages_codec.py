"""Page row helpers: UTF-8 truncation and compact line boxes (pure, no server)."""

from __future__ import annotations

import pytest

from retriever.pages import decode_lines, encode_lines, page_to_row, row_to_page, truncate_utf8
from retriever.records import TextLine
from retriever.schema import JSON_MAX_BYTES, PAGE_SCALAR_FIELDS, VARCHAR_MAX_BYTES
from tests.retriever.helpers import CONFIG, VISION_CONFIG, make_page, unit


def test_truncate_utf8_never_splits_a_character() -> None:
    assert truncate_utf8("abc", 10) == "abc"
    assert truncate_utf8("aé", 2) == "a"  # é is 2 bytes; cutting after 2 bytes would split it
    assert truncate_utf8("€€", 5) == "€"  # € is 3 bytes
    assert truncate_utf8("😀x", 3) == ""


def test_lines_past_the_cut_are_dropped_and_boxes_rounded() -> None:
    lines = [TextLine(0, 5, (1.004, 2.0, 3.0, 4.0)), TextLine(6, 20, (0.0, 0.0, 1.0, 1.0))]
    enc = encode_lines(lines, text_len=10)
    assert enc == [[0, 5, 1.0, 2.0, 3.0, 4.0]]
    assert decode_lines(enc) == [TextLine(0, 5, (1.0, 2.0, 3.0, 4.0))]
    assert decode_lines("[[1,2,0.5,0.5,1.5,1.5]]") == [TextLine(1, 2, (0.5, 0.5, 1.5, 1.5))]


def test_lines_json_stays_within_the_json_limit() -> None:
    lines = [TextLine(i, i + 1, (123.45, 678.91, 234.56, 789.01)) for i in range(5000)]
    enc = encode_lines(lines, text_len=10_000)
    import json

    assert 0 < len(enc) < 5000
    assert len(json.dumps(enc, separators=(",", ":"))) <= JSON_MAX_BYTES


def test_page_row_truncates_long_text_at_a_utf8_boundary() -> None:
    text = "é" * 40_000  # 80,000 bytes
    page = make_page("d", 1, text)
    page.lines = [TextLine(0, 10, (0, 0, 1, 1)), TextLine(39_000, 40_000, (0, 0, 1, 1))]
    row = page_to_row(page, CONFIG, token_bytes=0)
    stored = row["text"].encode("utf-8")
    assert len(stored) <= VARCHAR_MAX_BYTES and text.startswith(row["text"]) and len(row["text"]) == 32_767
    assert row["text_bytes"] == len(stored)
    assert row["lines"] == [[0, 10, 0.0, 0.0, 1.0, 1.0]]


def test_page_row_checks_vectors() -> None:
    with pytest.raises(ValueError, match="dim"):
        page_to_row(make_page("d", 1, "x", unit(0, dim=3)), CONFIG, 0)
    with pytest.raises(ValueError, match="vision_vec is required"):
        page_to_row(make_page("d", 1, "x"), VISION_CONFIG, 0)
    row = page_to_row(make_page("d", 1, "x", vision_vec=unit(1, dim=6)), VISION_CONFIG, 0)
    assert len(row["vision_vec"]) == 6


def test_row_to_page_round_trip_without_vectors() -> None:
    page = make_page("d", 3, "hello world")
    row = page_to_row(page, CONFIG, token_bytes=5)
    back = row_to_page({k: row[k] for k in PAGE_SCALAR_FIELDS})
    assert back.page_id == "d:3" and back.text == "hello world" and back.text_vec is None
    assert back.lines == page.lines
