"""A page's text rewritten in place (OCR write-back): the earlier text kept in the lines field for audit,
rows written before it still read, bad input changes nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from retriever.pages import PRIOR_TEXT_MAX_BYTES, page_to_row, row_to_page
from retriever.schema import JSON_MAX_BYTES
from retriever.store import IndexStore
from tests.retriever.helpers import CONFIG, add_doc, make_page, unit


def test_audit_round_trip_and_old_rows() -> None:
    page = make_page("a", 1, "new words")
    plain = page_to_row(page, CONFIG, 0)
    assert isinstance(plain["lines"], list)  # rows without an audit keep the old form
    assert row_to_page(plain).prior_text_source == ""
    audited = replace(page, prior_text="é" * PRIOR_TEXT_MAX_BYTES, prior_text_source="ocr")
    row = page_to_row(audited, CONFIG, 0)
    assert len(json.dumps(row["lines"]).encode()) <= JSON_MAX_BYTES
    back = row_to_page({**row, "lines": json.dumps(row["lines"])})  # as JSON text, as some engines return it
    assert back.lines == page.lines and back.prior_text_source == "ocr"
    assert len(back.prior_text.encode()) <= PRIOR_TEXT_MAX_BYTES and set(back.prior_text) == {"é"}


def test_replace_page_text_keeps_the_rest_and_refuses_bad_input(tmp_path: Path) -> None:
    with IndexStore.open(tmp_path / "vtrag.db", CONFIG) as store:
        add_doc(store, "a", [make_page("a", 1, "blurry scan text", text_source="ocr")])
        assert store.replace_page_text(make_page("nope", 1, "x")) is False
        with pytest.raises(ValueError, match="text_vec"):
            store.replace_page_text(replace(make_page("a", 1, "x"), text_vec=[1.0, 2.0]))
        assert store.get_pages(["a:1"])[0].text == "blurry scan text"  # nothing changed
        new = replace(
            make_page("a", 1, "crisp zanzibar text", text_vec=unit(3)),
            text_source="model",
            prior_text="blurry scan text",
            prior_text_source="ocr",
        )
        assert store.replace_page_text(new) is True
        [page] = store.get_pages(["a:1"], with_vectors=True)
        assert (page.text, page.text_source, page.prior_text) == (
            "crisp zanzibar text",
            "model",
            "blurry scan text",
        )
        assert [h.page.page_id for h in store.search("zanzibar", None, top_k=1)] == ["a:1"]
        assert store.search("blurry", None, top_k=1) == []
        assert store.audit()["page_rows"] == 1
